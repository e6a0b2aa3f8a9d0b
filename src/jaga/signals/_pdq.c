/*
 * jaga.signals._pdq -- PDQ (Meta's perceptual hash) computed from 8-bit RGB pixels.
 *
 * Why this file exists: hashing must give the same 256 bits and the same quality as Meta's
 * reference C++ (as shipped in the `pdqhash` binding), yet run far faster. The reference (and the
 * binding) converts the whole image to float luma in NumPy, then runs four full-image box-filter
 * passes (two along rows, two along columns), each over a full-size float buffer, before sampling
 * 64x64 points. Here the same arithmetic is done in one streaming sweep over the pixels:
 *
 *   luma -> row pass 1 -> column pass 1 -> row pass 2 -> column pass 2 -> 64x64 samples
 *
 * processed in strips of eight rows. Row passes work on a transposed strip (eight rows side by
 * side), so the sequential running sum along a row becomes eight independent lanes that the
 * compiler vectorises. Column passes keep one accumulator per column and walk the rows in order,
 * so they read memory row-major. Only a ring of (window + 8) rows of intermediate data lives at a
 * time, and the second pair of passes is evaluated only where the 64x64 decimation samples it.
 *
 * Exactness: every output value is the result of the same IEEE-754 single-precision operations, in
 * the same order, as the reference (the running sums add the entering sample then subtract the
 * leaving one, divide by the current window length, and so on). Skipping work never changes
 * the order of the operations whose results are kept. setup.py compiles with -ffp-contract=off so
 * that no multiply-add is fused.
 *
 * Luma: the `pdqhash` binding computes luma in NumPy double precision as
 * (R*0.299 + G*0.587 + B*0.114) rounded to float32; Meta's vPDQ computes it in float with float
 * coefficients. Both are available (LUMA_NUMPY, LUMA_FLOAT).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(PDQ_NO_CLONES) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__)
/* One copy of the engine per instruction set; the loader picks the best at import time. */
#define PDQ_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PDQ_CLONES
#endif
#if defined(__GNUC__)
#define PDQ_INLINE static inline __attribute__((always_inline))
#else
#define PDQ_INLINE static inline
#endif

#define STRIP 8       /* rows per strip: lanes of the transposed row passes */
#define MIN_DIM 5     /* the reference returns an all-zero hash below this */
#define LUMA_NUMPY 0  /* luma as the pdqhash binding computes it */
#define LUMA_FLOAT 1  /* luma as vPDQ's C++ computes it */

#if defined(__GNUC__) && !defined(__clang__) && !defined(PDQ_NO_VECTOR)
/* The 32-byte vectors below never cross a non-inlined call boundary; the ABI notes are moot. */
#pragma GCC diagnostic ignored "-Wpsabi"
/* Eight float lanes; element-wise operations are exactly IEEE single precision on every target
 * (on plain SSE2 the compiler splits them in two). Unaligned loads and stores are allowed. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));
#define HAVE_V8F 1
#endif

/* ------------------------------------------------------------------------------------------ */
/* DCT matrix: 16 rows (frequencies 1..16) x 64 columns, as the reference builds it: a float  */
/* scale factor times a double cosine, the product rounded to float.                          */

static float dct16x64[16][64];  /* D[i][k] */
static float dct64x16[64][16];  /* D transposed: Dt[k][j] = D[j][k] */

static void init_dct(void) {
    const float scale = (float)sqrt(2.0 / 64.0);
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 64; j++) {
            double c = cos((pi / 2.0 / 64.0) * (double)(i + 1) * (double)(2 * j + 1));
            dct16x64[i][j] = (float)((double)scale * c);
            dct64x16[j][i] = dct16x64[i][j];
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Luma of one pixel.                                                                          */

PDQ_INLINE float luma_numpy(unsigned r, unsigned g, unsigned b) {
    double y = (double)r * 0.299;
    y = y + (double)g * 0.587;
    y = y + (double)b * 0.114;
    return (float)y;
}

PDQ_INLINE float luma_float(unsigned r, unsigned g, unsigned b) {
    float y = 0.299f * (float)r;
    y = y + 0.587f * (float)g;
    y = y + 0.114f * (float)b;
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* One-dimensional box filter over `n` positions of `m` independent lanes (a row-major n x m   */
/* array): exactly the reference's four phases (grow, write while growing, slide, shrink).     */
/* `want[o]` < 0 skips the output at position o (the sums still advance); otherwise the output */
/* goes to row want[o] of `out`. With want == NULL every position o is written to row o.       */

PDQ_INLINE void box_lanes(const float *in, float *out, int n, int m, int window,
                          const int *want, float *sum) {
    const int half = (window + 2) / 2;
    int ri = 0, li = 0, oi = 0, cws = 0;
    for (int k = 0; k < m; k++) sum[k] = 0.0f;

    for (int i = 0; i < half - 1; i++, ri++) {
        const float *a = in + (size_t)ri * m;
        for (int k = 0; k < m; k++) sum[k] += a[k];
        cws++;
    }
    for (int i = 0; i < window - half + 1; i++, ri++, oi++) {
        const float *a = in + (size_t)ri * m;
        for (int k = 0; k < m; k++) sum[k] += a[k];
        cws++;
        int slot = want ? want[oi] : oi;
        if (slot >= 0) {
            float *o = out + (size_t)slot * m;
            const float d = (float)cws;
            for (int k = 0; k < m; k++) o[k] = sum[k] / d;
        }
    }
    {
        const float d = (float)cws;
        for (int i = 0; i < n - window; i++, ri++, li++, oi++) {
            const float *a = in + (size_t)ri * m;
            const float *s = in + (size_t)li * m;
            for (int k = 0; k < m; k++) {
                sum[k] += a[k];
                sum[k] -= s[k];
            }
            int slot = want ? want[oi] : oi;
            if (slot >= 0) {
                float *o = out + (size_t)slot * m;
                for (int k = 0; k < m; k++) o[k] = sum[k] / d;
            }
        }
    }
    for (int i = 0; i < half - 1; i++, li++, oi++) {
        const float *s = in + (size_t)li * m;
        for (int k = 0; k < m; k++) sum[k] -= s[k];
        cws--;
        int slot = want ? want[oi] : oi;
        if (slot >= 0) {
            float *o = out + (size_t)slot * m;
            const float d = (float)cws;
            for (int k = 0; k < m; k++) o[k] = sum[k] / d;
        }
    }
}

/* The same filter specialised to eight lanes held in one vector (the transposed row passes). */
#ifdef HAVE_V8F
PDQ_INLINE v8f load8(const float *p) { return *(const v8f *)p; }
PDQ_INLINE void store8(float *p, v8f v) { *(v8f *)p = v; }

PDQ_INLINE void box_strip(const float *in, float *out, int n, int window, const int *want) {
    const int half = (window + 2) / 2;
    v8f sum = {0, 0, 0, 0, 0, 0, 0, 0};
    int ri = 0, li = 0, oi = 0, cws = 0;

    for (int i = 0; i < half - 1; i++, ri++) {
        sum += load8(in + (size_t)ri * STRIP);
        cws++;
    }
    for (int i = 0; i < window - half + 1; i++, ri++, oi++) {
        sum += load8(in + (size_t)ri * STRIP);
        cws++;
        int slot = want ? want[oi] : oi;
        if (slot >= 0) store8(out + (size_t)slot * STRIP, sum / (float)cws);
    }
    {
        const float d = (float)cws;
        if (want == NULL) {
            for (int i = 0; i < n - window; i++, ri++, li++, oi++) {
                sum += load8(in + (size_t)ri * STRIP);
                sum -= load8(in + (size_t)li * STRIP);
                store8(out + (size_t)oi * STRIP, sum / d);
            }
        } else {
            for (int i = 0; i < n - window; i++, ri++, li++, oi++) {
                sum += load8(in + (size_t)ri * STRIP);
                sum -= load8(in + (size_t)li * STRIP);
                int slot = want[oi];
                if (slot >= 0) store8(out + (size_t)slot * STRIP, sum / d);
            }
        }
    }
    for (int i = 0; i < half - 1; i++, li++, oi++) {
        sum -= load8(in + (size_t)li * STRIP);
        cws--;
        int slot = want ? want[oi] : oi;
        if (slot >= 0) store8(out + (size_t)slot * STRIP, sum / (float)cws);
    }
}

/* 8x8 transpose in registers: rows r[0..7] -> columns. */
PDQ_INLINE void transpose8(v8f r0, v8f r1, v8f r2, v8f r3, v8f r4, v8f r5, v8f r6, v8f r7,
                           float *dst, size_t dst_stride_0, float *const *dst_rows) {
    typedef int v8i __attribute__((vector_size(32)));
    const v8i lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
    const v8i plo = {0, 1, 8, 9, 4, 5, 12, 13}, phi = {2, 3, 10, 11, 6, 7, 14, 15};
    const v8i qlo = {0, 1, 2, 3, 8, 9, 10, 11}, qhi = {4, 5, 6, 7, 12, 13, 14, 15};
    v8f t0 = __builtin_shuffle(r0, r1, lo), t1 = __builtin_shuffle(r0, r1, hi);
    v8f t2 = __builtin_shuffle(r2, r3, lo), t3 = __builtin_shuffle(r2, r3, hi);
    v8f t4 = __builtin_shuffle(r4, r5, lo), t5 = __builtin_shuffle(r4, r5, hi);
    v8f t6 = __builtin_shuffle(r6, r7, lo), t7 = __builtin_shuffle(r6, r7, hi);
    v8f u0 = __builtin_shuffle(t0, t2, plo), u1 = __builtin_shuffle(t0, t2, phi);
    v8f u2 = __builtin_shuffle(t1, t3, plo), u3 = __builtin_shuffle(t1, t3, phi);
    v8f u4 = __builtin_shuffle(t4, t6, plo), u5 = __builtin_shuffle(t4, t6, phi);
    v8f u6 = __builtin_shuffle(t5, t7, plo), u7 = __builtin_shuffle(t5, t7, phi);
    v8f c[8];
    c[0] = __builtin_shuffle(u0, u4, qlo);
    c[1] = __builtin_shuffle(u1, u5, qlo);
    c[2] = __builtin_shuffle(u2, u6, qlo);
    c[3] = __builtin_shuffle(u3, u7, qlo);
    c[4] = __builtin_shuffle(u0, u4, qhi);
    c[5] = __builtin_shuffle(u1, u5, qhi);
    c[6] = __builtin_shuffle(u2, u6, qhi);
    c[7] = __builtin_shuffle(u3, u7, qhi);
    if (dst_rows) {
        for (int k = 0; k < 8; k++) store8(dst_rows[k], c[k]);
    } else {
        for (int k = 0; k < 8; k++) store8(dst + k * dst_stride_0, c[k]);
    }
}
#else
PDQ_INLINE void box_strip(const float *in, float *out, int n, int window, const int *want) {
    float sum[STRIP];
    box_lanes(in, out, n, STRIP, window, want, sum);
}
#endif

/* Eight rows (pointers) of n floats -> n x 8 transposed strip t[j][r]. */
PDQ_INLINE void rows_to_strip(const float *const *rows, int n, float *t) {
    int j = 0;
#ifdef HAVE_V8F
    for (; j + 8 <= n; j += 8)
        transpose8(load8(rows[0] + j), load8(rows[1] + j), load8(rows[2] + j),
                   load8(rows[3] + j), load8(rows[4] + j), load8(rows[5] + j),
                   load8(rows[6] + j), load8(rows[7] + j), t + (size_t)j * STRIP, STRIP, NULL);
#endif
    for (; j < n; j++)
        for (int r = 0; r < STRIP; r++) t[(size_t)j * STRIP + r] = rows[r][j];
}

/* n x 8 transposed strip -> eight rows (pointers) of n floats. */
PDQ_INLINE void strip_to_rows(const float *t, int n, float *const *rows) {
    int j = 0;
#ifdef HAVE_V8F
    for (; j + 8 <= n; j += 8) {
        const float *s = t + (size_t)j * STRIP;
        float *dst[8];
        for (int r = 0; r < 8; r++) dst[r] = rows[r] + j;
        transpose8(load8(s), load8(s + 8), load8(s + 16), load8(s + 24), load8(s + 32),
                   load8(s + 40), load8(s + 48), load8(s + 56), NULL, 0, dst);
    }
#endif
    for (; j < n; j++)
        for (int r = 0; r < STRIP; r++) rows[r][j] = t[(size_t)j * STRIP + r];
}

/* ------------------------------------------------------------------------------------------ */
/* The streaming filter.                                                                       */

typedef struct {
    const uint8_t *rgb;   /* pixel (0, 0); rows `stride` bytes apart, pixels `step` bytes apart */
    Py_ssize_t stride;    /* either may be negative: a turned or mirrored view of an image */
    Py_ssize_t step;      /* 3 for packed rows; R, G and B are always adjacent */
    int rows, cols;       /* H, W */
    int luma;             /* LUMA_NUMPY or LUMA_FLOAT */
} pdq_image;

typedef struct {
    int W, H, wr, wc, half_c, ring_rows;
    int ndc, ndr;            /* distinct sampled columns / rows */
    int colmap[64], rowmap[64];
    int *want_col;           /* W: slot of a sampled column or -1 */
    int *want_row;           /* H: slot of a sampled row or -1 */
    float *ring;             /* ring_rows x W: output of row pass 1 */
    float *t_in, *t_out;     /* W x 8 transposed strips */
    float *csum;             /* W: column pass 1 accumulators */
    float *bstrip;           /* 8 x W: output of column pass 1, waiting for row pass 2 */
    float *lbuf;             /* 8 x W: luma rows of the current strip */
    float *zero, *scratch;   /* W: stand-in rows for the unused lanes of a partial strip */
    float *cd;               /* H x ndc: row pass 2 at sampled columns */
    float *dd;               /* ndr x ndc: column pass 2 at sampled points */
    float *sum2;             /* ndc accumulators */
    uint8_t *packed;         /* 3 x W: one row of a strided view, packed */
    int c1_ri, c1_oi, c1_cws;
} pdq_work;

static void work_free(pdq_work *w) {
    free(w->want_col);
    free(w->want_row);
    free(w->ring);
    free(w->t_in);
    free(w->t_out);
    free(w->csum);
    free(w->bstrip);
    free(w->lbuf);
    free(w->zero);
    free(w->scratch);
    free(w->cd);
    free(w->dd);
    free(w->sum2);
    free(w->packed);
}

/* Sample index of output k of 64 along a dimension of n: the reference's centre sampling. */
static int sample_index(int k, int n) { return (int)(((k + 0.5) * n) / 64); }

static int work_init(pdq_work *w, int H, int W) {
    memset(w, 0, sizeof(*w));
    w->W = W;
    w->H = H;
    w->wr = (W + 2 * 64 - 1) / (2 * 64);
    w->wc = (H + 2 * 64 - 1) / (2 * 64);
    w->half_c = (w->wc + 2) / 2;
    w->ring_rows = w->wc + STRIP;

    w->want_col = malloc(sizeof(int) * (size_t)W);
    w->want_row = malloc(sizeof(int) * (size_t)H);
    if (!w->want_col || !w->want_row) return -1;
    for (int j = 0; j < W; j++) w->want_col[j] = -1;
    for (int i = 0; i < H; i++) w->want_row[i] = -1;
    int last = -1;
    w->ndc = 0;
    for (int k = 0; k < 64; k++) {
        int c = sample_index(k, W);
        if (c != last) {
            w->want_col[c] = w->ndc++;
            last = c;
        }
        w->colmap[k] = w->want_col[c];
    }
    last = -1;
    w->ndr = 0;
    for (int k = 0; k < 64; k++) {
        int r = sample_index(k, H);
        if (r != last) {
            w->want_row[r] = w->ndr++;
            last = r;
        }
        w->rowmap[k] = w->want_row[r];
    }

    w->ring = malloc(sizeof(float) * (size_t)w->ring_rows * (size_t)W);
    w->t_in = malloc(sizeof(float) * (size_t)W * STRIP);
    w->t_out = malloc(sizeof(float) * (size_t)W * STRIP);
    w->csum = malloc(sizeof(float) * (size_t)W);
    w->bstrip = malloc(sizeof(float) * (size_t)W * STRIP);
    w->lbuf = malloc(sizeof(float) * (size_t)W * STRIP);
    w->zero = calloc((size_t)W, sizeof(float));
    w->scratch = malloc(sizeof(float) * (size_t)W);
    w->cd = malloc(sizeof(float) * (size_t)H * (size_t)w->ndc);
    w->dd = malloc(sizeof(float) * 64 * 64);
    w->sum2 = malloc(sizeof(float) * 64);
    w->packed = malloc(3 * (size_t)W);
    if (!w->ring || !w->t_in || !w->t_out || !w->csum || !w->bstrip || !w->cd || !w->dd ||
        !w->sum2 || !w->lbuf || !w->zero || !w->scratch || !w->packed)
        return -1;
    for (int j = 0; j < W; j++) w->csum[j] = 0.0f;
    return 0;
}

/* Luma of one row of W pixels. The vector loop does four pixels per step with the same
 * per-pixel operations as the scalar one (and the scalar loop finishes the row). */
PDQ_INLINE void luma_row(const uint8_t *p, int W, int mode, float *q) {
    int j = 0;
#ifdef HAVE_V8F
    typedef unsigned char v16u8 __attribute__((vector_size(16), aligned(1)));
    typedef int v4i __attribute__((vector_size(16)));
    typedef double v4d __attribute__((vector_size(32)));
    typedef float v4f __attribute__((vector_size(16), aligned(4)));
    const v16u8 zero = {0};
    const v16u8 mr = {0, 16, 16, 16, 3, 16, 16, 16, 6, 16, 16, 16, 9, 16, 16, 16};
    const v16u8 mg = {1, 16, 16, 16, 4, 16, 16, 16, 7, 16, 16, 16, 10, 16, 16, 16};
    const v16u8 mb = {2, 16, 16, 16, 5, 16, 16, 16, 8, 16, 16, 16, 11, 16, 16, 16};
    for (; 3 * j + 16 <= 3 * W; j += 4) {
        const v16u8 x = *(const v16u8 *)(p + 3 * j);
        const v4i r = (v4i)__builtin_shuffle(x, zero, mr);
        const v4i g = (v4i)__builtin_shuffle(x, zero, mg);
        const v4i b = (v4i)__builtin_shuffle(x, zero, mb);
        if (mode == LUMA_NUMPY) {
            v4d y = __builtin_convertvector(r, v4d) * 0.299;
            y = y + __builtin_convertvector(g, v4d) * 0.587;
            y = y + __builtin_convertvector(b, v4d) * 0.114;
            *(v4f *)(q + j) = __builtin_convertvector(y, v4f);
        } else {
            v4f y = 0.299f * __builtin_convertvector(r, v4f);
            y = y + 0.587f * __builtin_convertvector(g, v4f);
            y = y + 0.114f * __builtin_convertvector(b, v4f);
            *(v4f *)(q + j) = y;
        }
    }
#endif
    if (mode == LUMA_NUMPY) {
        for (; j < W; j++) q[j] = luma_numpy(p[3 * j], p[3 * j + 1], p[3 * j + 2]);
    } else {
        for (; j < W; j++) q[j] = luma_float(p[3 * j], p[3 * j + 1], p[3 * j + 2]);
    }
}

/* Luma of rows r0..r0+k-1 into the transposed strip t[j][r]; unused lanes are zero. */
PDQ_INLINE void luma_strip(pdq_work *w, const pdq_image *img, int r0, int k, float *t) {
    const int W = img->cols;
    const float *rows[STRIP];
    for (int r = 0; r < STRIP; r++) {
        if (r >= k) {
            rows[r] = w->zero;
            continue;
        }
        float *q = w->lbuf + (size_t)r * W;
        const uint8_t *p = img->rgb + (Py_ssize_t)(r0 + r) * img->stride;
        if (img->step != 3) { /* a strided view (turned, mirrored): pack the row first */
            for (int j = 0; j < W; j++, p += img->step) {
                w->packed[3 * j] = p[0];
                w->packed[3 * j + 1] = p[1];
                w->packed[3 * j + 2] = p[2];
            }
            p = w->packed;
        }
        luma_row(p, W, img->luma, q);
        rows[r] = q;
    }
    rows_to_strip(rows, W, t);
}

/* Row pass 2 over the B rows o0..o0+k-1 waiting in bstrip, sampled columns only. */
PDQ_INLINE void row_pass2(pdq_work *w, int o0, int k) {
    const int W = w->W, nd = w->ndc;
    const float *rows[STRIP];
    for (int r = 0; r < STRIP; r++) rows[r] = r < k ? w->bstrip + (size_t)r * W : w->zero;
    rows_to_strip(rows, W, w->t_in);
    box_strip(w->t_in, w->t_out, W, w->wr, w->want_col);
    for (int r = 0; r < k; r++) {
        float *c = w->cd + (size_t)(o0 + r) * nd;
        for (int d = 0; d < nd; d++) c[d] = w->t_out[(size_t)d * STRIP + r];
    }
}

/* Column pass 1 writes output row o (sum / cws) into the strip for row pass 2. */
PDQ_INLINE void c1_emit(pdq_work *w) {
    const int W = w->W;
    const int o = w->c1_oi++;
    float *b = w->bstrip + (size_t)(o % STRIP) * W;
    const float d = (float)w->c1_cws;
    const float *s = w->csum;
    for (int j = 0; j < W; j++) b[j] = s[j] / d;
    if (o % STRIP == STRIP - 1 || o == w->H - 1) row_pass2(w, o - o % STRIP, o % STRIP + 1);
}

/* Column pass 1 reads the next row of row-pass-1 output (already in the ring). */
PDQ_INLINE void c1_push(pdq_work *w) {
    const int W = w->W, ri = w->c1_ri++;
    const float *a = w->ring + (size_t)(ri % w->ring_rows) * W;
    float *s = w->csum;
    if (ri < w->wc) {
        for (int j = 0; j < W; j++) s[j] += a[j];
        w->c1_cws++;
        if (ri >= w->half_c - 1) c1_emit(w);
    } else {
        const float *x = w->ring + (size_t)((ri - w->wc) % w->ring_rows) * W;
        for (int j = 0; j < W; j++) {
            s[j] += a[j];
            s[j] -= x[j];
        }
        c1_emit(w);
    }
}

/* Column pass 1's last outputs, as the window leaves the bottom edge. */
PDQ_INLINE void c1_finish(pdq_work *w) {
    const int W = w->W;
    int li = w->H - w->wc;
    for (int i = 0; i < w->half_c - 1; i++, li++) {
        const float *x = w->ring + (size_t)(li % w->ring_rows) * W;
        float *s = w->csum;
        for (int j = 0; j < W; j++) s[j] -= x[j];
        w->c1_cws--;
        c1_emit(w);
    }
}

/* Blur and decimate to 64x64: the reference's two Jarosz x/y pass pairs, then centre sampling. */
PDQ_CLONES
static int downsample(const pdq_image *img, float out[64][64]) {
    pdq_work w;
    const int H = img->rows, W = img->cols;
    if (work_init(&w, H, W) != 0) {
        work_free(&w);
        return -1;
    }
    for (int r0 = 0; r0 < H; r0 += STRIP) {
        const int k = (H - r0 < STRIP) ? H - r0 : STRIP;
        luma_strip(&w, img, r0, k, w.t_in);
        box_strip(w.t_in, w.t_out, W, w.wr, NULL);
        float *rows[STRIP];
        for (int r = 0; r < STRIP; r++)
            rows[r] = r < k ? w.ring + (size_t)((r0 + r) % w.ring_rows) * W : w.scratch;
        strip_to_rows(w.t_out, W, rows);
        for (int r = 0; r < k; r++) c1_push(&w);
    }
    c1_finish(&w);
    box_lanes(w.cd, w.dd, H, w.ndc, w.wc, w.want_row, w.sum2);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++) out[i][j] = w.dd[(size_t)w.rowmap[i] * w.ndc + w.colmap[j]];
    work_free(&w);
    return 0;
}

/* The reference hashes a 64x64 input without blurring it (non-dihedral entry point only). */
static void luma_direct64(const pdq_image *img, float out[64][64]) {
    for (int i = 0; i < 64; i++) {
        const uint8_t *p = img->rgb + (Py_ssize_t)i * img->stride;
        for (int j = 0; j < 64; j++, p += img->step)
            out[i][j] = img->luma == LUMA_NUMPY ? luma_numpy(p[0], p[1], p[2])
                                                : luma_float(p[0], p[1], p[2]);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Quality, DCT, median, bits.                                                                 */

static int quality_metric(float a[64][64]) {
    int gradient_sum = 0;
    for (int i = 0; i < 63; i++) {
        for (int j = 0; j < 64; j++) {
            float u = a[i][j], v = a[i + 1][j];
            int d = (int)(((u - v) * 100.0f) / 255.0f);
            gradient_sum += abs(d);
        }
    }
    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < 63; j++) {
            float u = a[i][j], v = a[i][j + 1];
            int d = (int)(((u - v) * 100.0f) / 255.0f);
            gradient_sum += abs(d);
        }
    }
    int q = gradient_sum / 90;
    return q > 100 ? 100 : q;
}

/* B = D A D^T, 16x16 out of 64x64, each sum accumulated in float in ascending k. */
static void dct64_to_16(float a[64][64], float b[16][16]) {
    float t[16][64];
    for (int i = 0; i < 16; i++) {
        float s[64];
        for (int j = 0; j < 64; j++) s[j] = 0.0f;
        for (int k = 0; k < 64; k++) {
            const float d = dct16x64[i][k];
            for (int j = 0; j < 64; j++) s[j] += d * a[k][j];
        }
        for (int j = 0; j < 64; j++) t[i][j] = s[j];
    }
    for (int i = 0; i < 16; i++) {
        float s[16];
        for (int j = 0; j < 16; j++) s[j] = 0.0f;
        for (int k = 0; k < 64; k++) {
            const float x = t[i][k];
            for (int j = 0; j < 16; j++) s[j] += x * dct64x16[k][j];
        }
        for (int j = 0; j < 16; j++) b[i][j] = s[j];
    }
}

/* Torben Mogensen's selection of the median (as the reference uses it). */
static float torben_median(const float *m, int n) {
    float lo = m[0], hi = m[0];
    for (int i = 1; i < n; i++) {
        if (m[i] < lo) lo = m[i];
        if (m[i] > hi) hi = m[i];
    }
    int less, greater, equal;
    float guess, maxlt, mingt;
    for (;;) {
        guess = (lo + hi) / 2;
        less = greater = equal = 0;
        maxlt = lo;
        mingt = hi;
        for (int i = 0; i < n; i++) {
            if (m[i] < guess) {
                less++;
                if (m[i] > maxlt) maxlt = m[i];
            } else if (m[i] > guess) {
                greater++;
                if (m[i] < mingt) mingt = m[i];
            } else {
                equal++;
            }
        }
        if (less <= (n + 1) / 2 && greater <= (n + 1) / 2) break;
        if (less > greater)
            hi = maxlt;
        else
            lo = mingt;
    }
    if (less >= (n + 1) / 2) return maxlt;
    if (less + equal >= (n + 1) / 2) return guess;
    return mingt;
}

/* Bit i*16+j is set when coefficient (i, j) exceeds the median. The reference keeps the bits in
 * sixteen 16-bit words (word i = row i) and prints word 15 first as 4 hex digits; the 32 bytes
 * here are that printed hex decoded: byte 2*(15-i) is the high half of word i. */
static void bits_from_dct(float b[16][16], uint8_t out[32]) {
    const float median = torben_median(&b[0][0], 256);
    memset(out, 0, 32);
    for (int i = 0; i < 16; i++) {
        unsigned word = 0;
        for (int j = 0; j < 16; j++)
            if (b[i][j] > median) word |= 1u << j;
        out[2 * (15 - i)] = (uint8_t)(word >> 8);
        out[2 * (15 - i) + 1] = (uint8_t)(word & 0xff);
    }
}

/* The eight dihedral images' DCTs follow from the original's by sign changes and transposition:
 * order original, rot90, rot180, rot270, flipX, flipY, flipPlus1, flipMinus1. */
static void dihedral_dct(float a[16][16], int which, float b[16][16]) {
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 16; j++) {
            const float x = a[i][j];
            switch (which) {
                case 0: b[i][j] = x; break;
                case 1: b[j][i] = (j & 1) ? x : -x; break;
                case 2: b[i][j] = ((i + j) & 1) ? -x : x; break;
                case 3: b[j][i] = (i & 1) ? x : -x; break;
                case 4: b[i][j] = (i & 1) ? x : -x; break;
                case 5: b[i][j] = (j & 1) ? x : -x; break;
                case 6: b[j][i] = x; break;
                default: b[j][i] = ((i + j) & 1) ? -x : x; break;
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The whole computation (no Python objects touched: runs without the GIL).                    */

typedef struct {
    uint8_t hashes[8][32];
    int quality;
    float dct[16][16];
} pdq_result;

/* direct64: hash a 64x64 input unblurred, as the reference's single-hash entry point does. */
static int pdq_compute(const pdq_image *img, int ndihedral, int direct64, pdq_result *res) {
    memset(res, 0, sizeof(*res));
    if (img->rows < MIN_DIM || img->cols < MIN_DIM) return 0;
    float a[64][64];
    if (direct64 && img->rows == 64 && img->cols == 64) {
        luma_direct64(img, a);
    } else if (downsample(img, a) != 0) {
        return -1;
    }
    res->quality = quality_metric(a);
    dct64_to_16(a, res->dct);
    for (int v = 0; v < ndihedral; v++) {
        float b[16][16];
        dihedral_dct(res->dct, v, b);
        bits_from_dct(b, res->hashes[v]);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Python interface.                                                                            */

static int get_rgb(PyObject *obj, Py_buffer *view, pdq_image *img, int luma) {
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError,
                     "expected a (height, width, 3) uint8 array with adjacent R, G, B, got %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    const char *fmt = view->format ? view->format : "B";
    if (fmt[0] == '=' || fmt[0] == '<' || fmt[0] == '>' || fmt[0] == '|' || fmt[0] == '@') fmt++;
    if (view->ndim != 3 || view->shape[2] != 3 || view->itemsize != 1 || strcmp(fmt, "B") != 0) {
        if (view->ndim != 3 || view->shape[2] != 3)
            PyErr_Format(PyExc_ValueError,
                         "expected pixels of shape (height, width, 3), got %d dimension(s)%s",
                         view->ndim, view->ndim == 3 ? " with a last axis other than 3" : "");
        else
            PyErr_Format(PyExc_ValueError, "expected uint8 pixels, got buffer format '%s'",
                         view->format ? view->format : "?");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->shape[0] > INT_MAX / 4 || view->shape[1] > INT_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "image dimensions too large");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->strides != NULL && view->strides[2] != 1) {
        PyErr_SetString(PyExc_ValueError, "expected R, G and B of a pixel in adjacent bytes");
        PyBuffer_Release(view);
        return -1;
    }
    img->rgb = (const uint8_t *)view->buf;
    img->rows = (int)view->shape[0];
    img->cols = (int)view->shape[1];
    img->stride = view->strides ? view->strides[0] : (Py_ssize_t)img->cols * 3;
    img->step = view->strides ? view->strides[1] : 3;
    img->luma = luma;
    return 0;
}

static PyObject *run(PyObject *obj, int ndihedral, int direct64, int luma) {
    Py_buffer view;
    pdq_image img;
    pdq_result res;
    if (get_rgb(obj, &view, &img, luma) != 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pdq_compute(&img, ndihedral, direct64, &res);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc != 0) return PyErr_NoMemory();
    if (ndihedral == 1)
        return Py_BuildValue("(y#i)", (const char *)res.hashes[0], (Py_ssize_t)32, res.quality);
    PyObject *tuple = PyTuple_New(ndihedral);
    if (!tuple) return NULL;
    for (int v = 0; v < ndihedral; v++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)res.hashes[v], 32);
        if (!h) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, v, h);
    }
    return Py_BuildValue("(Ni)", tuple, res.quality);
}

static PyObject *py_hash(PyObject *self, PyObject *rgb) {
    return run(rgb, 1, 1, LUMA_NUMPY);
}

static PyObject *py_hash_dihedral(PyObject *self, PyObject *rgb) {
    return run(rgb, 8, 0, LUMA_NUMPY);
}

static PyObject *py_hash_frame(PyObject *self, PyObject *rgb) {
    return run(rgb, 1, 1, LUMA_FLOAT);
}

static PyMethodDef methods[] = {
    {"hash", py_hash, METH_O,
     "hash(rgb, /) -> (bytes, int)\n\nPDQ hash (32 bytes) and quality (0-100) of a "
     "(height, width, 3) uint8 array (any row and pixel strides; R, G, B adjacent), equal to the "
     "pdqhash binding's compute()."},
    {"hash_dihedral", py_hash_dihedral, METH_O,
     "hash_dihedral(rgb, /) -> (tuple[bytes, ...], int)\n\nThe eight dihedral PDQ hashes "
     "(original, rot90, rot180, rot270, flipX, flipY, flipPlus1, flipMinus1) and the quality, "
     "from one computation; equal to the pdqhash binding's compute_dihedral()."},
    {"hash_frame", py_hash_frame, METH_O,
     "hash_frame(rgb, /) -> (bytes, int)\n\nPDQ hash and quality of a video frame as Meta's vPDQ "
     "computes it (single-precision luma with float coefficients)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_pdq",
    "Bit-exact PDQ hashing of RGB pixels (see jaga.signals.pdq for the Python API).", -1, methods,
};

PyMODINIT_FUNC PyInit__pdq(void) {
    init_dct();
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "MIN_DIMENSION", MIN_DIM) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
