/*
 * The native core of jaga.index: multi-index hashing over packed binary hashes.
 *
 * One segment of the index is a packed array of n rows of `row_bytes` bytes (row_bytes a multiple
 * of 8), plus m chunk tables. Chunk i covers the bits [off_i, off_i + width_i) of a row, read as a
 * little-endian integer, and its table is in CSR form: a directory of 2^width_i + 1 uint32 bucket
 * starts and a uint32 array of the row numbers sorted by chunk value (ties by row number).
 *
 * A query with radius r probes, in every chunk i with t_i >= 0, all keys within t_i bits of the
 * query's chunk value. The Python planner picks the t_i so that sum(t_i + 1) >= r + 1; then any
 * row within r differs in at most t_i bits on some chunk i (generalised pigeonhole), so it is a
 * candidate. A candidate is verified with popcount on its full row and reported only by the first
 * chunk whose probe could have found it ("first chunk wins"), which removes duplicates without a
 * set. Segments without tables, and queries for which probing costs more, are answered by a scan.
 *
 * Work happens without the GIL; batches are split over OpenMP threads. Row numbers, bucket starts
 * and chunk specs coming from a snapshot are bounds-checked, so a damaged file can give wrong
 * answers (the snapshot checksum catches that) but never reads out of bounds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_WORDS 16      /* rows of up to 1024 bits */
#define MAX_WIDTH 24      /* widest chunk: a 2^24-bucket directory is 64 MiB per table */
#define MAX_CHUNKS 1024
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 16 /* rows/buckets requested ahead of use (measured: 16-24 best, 32 worse) */
#endif

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#define POPCOUNT64(x) __builtin_popcountll(x)
#else
#define PREFETCH(p) ((void)0)
static inline int POPCOUNT64(uint64_t x) {
    int c = 0;
    while (x) { x &= x - 1; c++; }
    return c;
}
#endif

/* ---------------------------------------------------------------- small helpers */

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void load_row(uint64_t *w, const uint8_t *p, int words) {
    for (int k = 0; k < words; k++) w[k] = load64(p + 8 * k);
}

/* Bits [off, off + width) of a row held as little-endian 64-bit words (width <= 30). */
static inline uint32_t chunk_of(const uint64_t *w, int off, int width) {
    int lo = off >> 6, sh = off & 63;
    uint64_t v = w[lo] >> sh;
    if (sh + width > 64) v |= w[lo + 1] << (64 - sh);
    return (uint32_t)(v & ((1ULL << width) - 1));
}

static inline int row_distance(const uint64_t *q, const uint8_t *h, int words) {
    if (words == 4) {
        return POPCOUNT64(q[0] ^ load64(h)) + POPCOUNT64(q[1] ^ load64(h + 8)) +
               POPCOUNT64(q[2] ^ load64(h + 16)) + POPCOUNT64(q[3] ^ load64(h + 24));
    }
    int d = 0;
    for (int k = 0; k < words; k++) d += POPCOUNT64(q[k] ^ load64(h + 8 * k));
    return d;
}

static inline int is_dead(const uint8_t *tomb, uint64_t row) {
    return (tomb[row >> 3] >> (row & 7)) & 1;
}

/* A growable list of results of one query: (distance << 32) | row, so sorting orders both. */
typedef struct {
    uint64_t *a;
    size_t n, cap;
} vec_t;

static int vec_push(vec_t *v, uint64_t x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        uint64_t *a = (uint64_t *)realloc(v->a, cap * sizeof(uint64_t));
        if (!a) return -1;
        v->a = a;
        v->cap = cap;
    }
    v->a[v->n++] = x;
    return 0;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static void sort_u64(uint64_t *a, size_t n) {
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            uint64_t x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1] > x) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
    } else {
        qsort(a, n, sizeof(uint64_t), cmp_u64);
    }
}

/* Scratch space one thread reuses across queries. */
typedef struct {
    uint64_t *keys; /* absolute directory index of each probe key */
    size_t keys_cap;
    uint64_t *ranges; /* per key: absolute start in rows, then end */
    size_t ranges_cap;
    uint32_t *cands;
    size_t cands_cap;
} scratch_t;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 1024;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) return -1;
    *p = q;
    *cap = cap2;
    return 0;
}

static void scratch_free(scratch_t *s) {
    free(s->keys);
    free(s->ranges);
    free(s->cands);
}

typedef struct {
    int off, width, t;
    uint64_t dir_base;  /* first directory entry of this chunk's table */
    uint64_t keys;      /* number of probe keys within t bits */
} chunk_t;

static uint64_t binom(int n, int k) {
    if (k < 0 || k > n) return 0;
    uint64_t r = 1;
    for (int i = 1; i <= k; i++) r = r * (uint64_t)(n - k + i) / (uint64_t)i;
    return r;
}

/* ---------------------------------------------------------------- the search itself */

typedef struct {
    const uint8_t *hashes;
    uint64_t n;
    int row_bytes, words;
    const uint8_t *tomb;
    const chunk_t *chunks;
    int m;
    const uint32_t *dir;
    uint64_t dir_len;
    const uint32_t *rows;
    int radius;
} segment_t;

/* Probe the chunk tables for one query and push the verified matches. */
static int probe_one(const segment_t *s, const uint64_t *q, vec_t *out, scratch_t *sc) {
    const int words = s->words;
    uint64_t total_keys = 0;
    for (int i = 0; i < s->m; i++) total_keys += s->chunks[i].keys;
    if (grow((void **)&sc->keys, &sc->keys_cap, total_keys + 1, sizeof(uint64_t))) return -1;
    if (grow((void **)&sc->ranges, &sc->ranges_cap, 2 * total_keys + 2, sizeof(uint64_t)))
        return -1;

    /* Enumerate probe keys: every mask of k <= t set bits (Gosper's hack), XOR the query chunk. */
    uint64_t nk = 0;
    uint64_t key_start[MAX_CHUNKS + 1];
    for (int i = 0; i < s->m; i++) {
        const chunk_t *c = &s->chunks[i];
        key_start[i] = nk;
        if (c->t < 0) continue;
        uint32_t qc = chunk_of(q, c->off, c->width);
        uint64_t limit = 1ULL << c->width;
        sc->keys[nk++] = c->dir_base + qc;
        for (int k = 1; k <= c->t; k++) {
            uint64_t v = (1ULL << k) - 1;
            while (v < limit) {
                sc->keys[nk++] = c->dir_base + (qc ^ (uint32_t)v);
                uint64_t lowest = v & (~v + 1);
                uint64_t ripple = v + lowest;
                v = (((ripple ^ v) >> 2) / lowest) | ripple;
            }
        }
    }
    key_start[s->m] = nk;

    /* Stage 1: bucket ranges, with the directory entries requested ahead. */
    for (uint64_t j = 0; j < nk; j++) {
        if (j + PREFETCH_AHEAD < nk) PREFETCH(s->dir + sc->keys[j + PREFETCH_AHEAD]);
        uint64_t idx = sc->keys[j];
        uint64_t a = s->dir[idx], b = s->dir[idx + 1];
        if (b > s->n) b = s->n;
        if (a > b) a = b;
        sc->ranges[2 * j] = a;
        sc->ranges[2 * j + 1] = b;
    }
    /* Turn bucket ranges into absolute positions in the concatenated rows array and count. */
    uint64_t ncand = 0;
    for (int i = 0; i < s->m; i++) {
        uint64_t base = (uint64_t)i * s->n;
        for (uint64_t j = key_start[i]; j < key_start[i + 1]; j++) {
            ncand += sc->ranges[2 * j + 1] - sc->ranges[2 * j];
            sc->ranges[2 * j] += base;
            sc->ranges[2 * j + 1] += base;
        }
    }
    if (grow((void **)&sc->cands, &sc->cands_cap, ncand + 1, sizeof(uint32_t))) return -1;

    /* Stage 2: gather candidate rows, with the bucket contents requested ahead. */
    uint64_t cand_start[MAX_CHUNKS + 1];
    uint64_t nc = 0;
    for (int i = 0; i < s->m; i++) {
        cand_start[i] = nc;
        for (uint64_t j = key_start[i]; j < key_start[i + 1]; j++) {
            if (j + PREFETCH_AHEAD < nk) PREFETCH(s->rows + sc->ranges[2 * (j + PREFETCH_AHEAD)]);
            for (uint64_t p = sc->ranges[2 * j]; p < sc->ranges[2 * j + 1]; p++)
                sc->cands[nc++] = s->rows[p];
        }
    }
    cand_start[s->m] = nc;

    /* Stage 3: verify, with the candidate rows requested ahead (they are random accesses). */
    for (int i = 0; i < s->m; i++) {
        for (uint64_t c = cand_start[i]; c < cand_start[i + 1]; c++) {
            if (c + PREFETCH_AHEAD < nc) {
                uint32_t ahead = sc->cands[c + PREFETCH_AHEAD];
                if (ahead < s->n) PREFETCH(s->hashes + (uint64_t)ahead * s->row_bytes);
            }
            uint64_t row = sc->cands[c];
            if (row >= s->n) continue;
            const uint8_t *h = s->hashes + row * s->row_bytes;
            int d = row_distance(q, h, words);
            if (d > s->radius || is_dead(s->tomb, row)) continue;
            /* First chunk wins: an earlier chunk whose probe also reaches this row reports it. */
            uint64_t x[MAX_WORDS];
            for (int k = 0; k < words; k++) x[k] = q[k] ^ load64(h + 8 * k);
            int earlier = 0;
            for (int j = 0; j < i && !earlier; j++) {
                const chunk_t *cj = &s->chunks[j];
                if (cj->t >= 0 && POPCOUNT64(chunk_of(x, cj->off, cj->width)) <= cj->t) earlier = 1;
            }
            if (!earlier && vec_push(out, ((uint64_t)d << 32) | row)) return -1;
        }
    }
    return 0;
}

#define SCAN_TILE 2048 /* rows per tile: 64 KiB of 256-bit rows stays in L2 for a query block */

/* Scan every row for a block of queries (rows outer within a tile, so rows are read once). */
static int scan_block(const segment_t *s, const uint64_t *qw, int nq, vec_t *outs) {
    const int words = s->words, radius = s->radius;
    for (uint64_t t0 = 0; t0 < s->n; t0 += SCAN_TILE) {
        uint64_t t1 = t0 + SCAN_TILE < s->n ? t0 + SCAN_TILE : s->n;
        for (int qi = 0; qi < nq; qi++) {
            const uint64_t *q = qw + (size_t)qi * words;
            const uint8_t *h = s->hashes + t0 * s->row_bytes;
            if (words == 4) {
                /* Half a row usually settles it: random halves differ in ~64 bits. */
                const uint64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
                for (uint64_t row = t0; row < t1; row++, h += 32) {
                    int d = POPCOUNT64(q0 ^ load64(h)) + POPCOUNT64(q1 ^ load64(h + 8));
                    if (d > radius) continue;
                    d += POPCOUNT64(q2 ^ load64(h + 16)) + POPCOUNT64(q3 ^ load64(h + 24));
                    if (d <= radius && !is_dead(s->tomb, row)) {
                        if (vec_push(&outs[qi], ((uint64_t)d << 32) | row)) return -1;
                    }
                }
                continue;
            }
            for (uint64_t row = t0; row < t1; row++, h += s->row_bytes) {
                int d = row_distance(q, h, words);
                if (d <= radius && !is_dead(s->tomb, row)) {
                    if (vec_push(&outs[qi], ((uint64_t)d << 32) | row)) return -1;
                }
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- Python glue */

typedef struct {
    Py_buffer b;
    int held;
} pybuf_t;

static void release_all(pybuf_t *bufs, int n) {
    for (int i = 0; i < n; i++)
        if (bufs[i].held) PyBuffer_Release(&bufs[i].b);
}

static int get_buf(PyObject *obj, pybuf_t *out, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &out->b, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s buffer", what,
                     writable ? " writable" : "");
        return -1;
    }
    out->held = 1;
    return 0;
}

static int resolve_threads(int threads) {
#ifdef _OPENMP
    if (threads <= 0) threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    return threads < 1 ? 1 : threads;
}

/* Check the chunk specs (int32 triples or pairs) and fill chunk_t; returns the directory size. */
static int parse_chunks(const Py_buffer *b, int per, int bits, chunk_t *chunks, int *m,
                        uint64_t *dir_len) {
    if (b->len % (Py_ssize_t)(per * sizeof(int32_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "chunk spec has the wrong length");
        return -1;
    }
    int count = (int)(b->len / (Py_ssize_t)(per * sizeof(int32_t)));
    if (count > MAX_CHUNKS) {
        PyErr_SetString(PyExc_ValueError, "too many chunks");
        return -1;
    }
    const int32_t *spec = (const int32_t *)b->buf;
    uint64_t base = 0;
    for (int i = 0; i < count; i++) {
        int off = spec[per * i], width = spec[per * i + 1];
        int t = per > 2 ? spec[per * i + 2] : -1;
        if (width < 1 || width > MAX_WIDTH || off < 0 || off + width > bits || t > width) {
            PyErr_Format(PyExc_ValueError, "bad chunk %d: offset %d width %d t %d", i, off, width,
                         t);
            return -1;
        }
        chunks[i].off = off;
        chunks[i].width = width;
        chunks[i].t = t;
        chunks[i].dir_base = base;
        chunks[i].keys = 0;
        for (int k = 0; k <= t; k++) chunks[i].keys += binom(width, k);
        base += (1ULL << width) + 1;
    }
    *m = count;
    *dir_len = base;
    return 0;
}

/*
 * Counting sort of one chunk table. A direct scatter of n rows into 2^width buckets writes to
 * random places in a table far larger than the caches; so, for wide chunks, rows are first
 * partitioned by the top PART_BITS bits of their chunk value (256 sequential write streams) and
 * each partition, whose buckets and output both fit in cache, is then counted and placed.
 * Rows stay in ascending order within a bucket either way.
 */
#define PART_BITS 8

static int build_one(const uint8_t *hashes, uint64_t n, int row_bytes, const chunk_t *c,
                     uint32_t *d, uint32_t *out) {
    const int words = row_bytes / 8, width = c->width;
    const uint64_t buckets = 1ULL << width;
    uint64_t w[MAX_WORDS];
    memset(d, 0, (buckets + 1) * sizeof(uint32_t));
    if (width <= 12 || n < 65536) {
        uint32_t *cursor = (uint32_t *)malloc(buckets * sizeof(uint32_t));
        if (!cursor) return -1;
        for (uint64_t r = 0; r < n; r++) {
            load_row(w, hashes + r * row_bytes, words);
            d[chunk_of(w, c->off, width) + 1]++;
        }
        for (uint64_t b = 0; b < buckets; b++) {
            d[b + 1] += d[b];
            cursor[b] = d[b];
        }
        for (uint64_t r = 0; r < n; r++) {
            load_row(w, hashes + r * row_bytes, words);
            out[cursor[chunk_of(w, c->off, width)]++] = (uint32_t)r;
        }
        free(cursor);
        return 0;
    }
    const int low = width - PART_BITS;
    const uint64_t low_buckets = 1ULL << low;
    uint64_t *pairs = (uint64_t *)malloc(n * sizeof(uint64_t));
    uint32_t *cursor = (uint32_t *)malloc(low_buckets * sizeof(uint32_t));
    uint64_t part_start[(1 << PART_BITS) + 1], part_cursor[1 << PART_BITS];
    if (!pairs || !cursor) {
        free(pairs);
        free(cursor);
        return -1;
    }
    memset(part_start, 0, sizeof(part_start));
    for (uint64_t r = 0; r < n; r++) {
        load_row(w, hashes + r * row_bytes, words);
        part_start[(chunk_of(w, c->off, width) >> low) + 1]++;
    }
    for (int p = 0; p < (1 << PART_BITS); p++) {
        part_start[p + 1] += part_start[p];
        part_cursor[p] = part_start[p];
    }
    for (uint64_t r = 0; r < n; r++) {
        load_row(w, hashes + r * row_bytes, words);
        uint32_t v = chunk_of(w, c->off, width);
        pairs[part_cursor[v >> low]++] = ((uint64_t)v << 32) | r;
    }
    for (int p = 0; p < (1 << PART_BITS); p++) {
        uint32_t *dp = d + ((uint64_t)p << low); /* this partition's buckets */
        const uint64_t a = part_start[p], b = part_start[p + 1];
        for (uint64_t k = a; k < b; k++) dp[((uint32_t)(pairs[k] >> 32) & (low_buckets - 1)) + 1]++;
        uint32_t at = (uint32_t)a;
        for (uint64_t x = 0; x < low_buckets; x++) {
            uint32_t cnt = dp[x + 1];
            dp[x] = at; /* bucket start, overwriting the count shifted into the slot before */
            cursor[x] = at;
            at += cnt;
        }
        for (uint64_t k = a; k < b; k++)
            out[cursor[(uint32_t)(pairs[k] >> 32) & (low_buckets - 1)]++] = (uint32_t)pairs[k];
    }
    d[buckets] = (uint32_t)n;
    free(pairs);
    free(cursor);
    return 0;
}

PyDoc_STRVAR(build_tables_doc,
             "build_tables(hashes, row_bytes, chunks, directory, rows, threads)\n\n"
             "Fill the CSR chunk tables of one segment by counting sort.");

static PyObject *py_build_tables(PyObject *self, PyObject *args) {
    PyObject *o_hashes, *o_chunks, *o_dir, *o_rows;
    int row_bytes, threads;
    if (!PyArg_ParseTuple(args, "OiOOOi", &o_hashes, &row_bytes, &o_chunks, &o_dir, &o_rows,
                          &threads))
        return NULL;
    pybuf_t bufs[4];
    memset(bufs, 0, sizeof(bufs));
    if (row_bytes < 8 || row_bytes % 8 || row_bytes > 8 * MAX_WORDS) {
        PyErr_SetString(PyExc_ValueError, "row_bytes must be a multiple of 8, at most 128");
        return NULL;
    }
    if (get_buf(o_hashes, &bufs[0], 0, "hashes") || get_buf(o_chunks, &bufs[1], 0, "chunks") ||
        get_buf(o_dir, &bufs[2], 1, "directory") || get_buf(o_rows, &bufs[3], 1, "rows")) {
        release_all(bufs, 4);
        return NULL;
    }
    chunk_t *chunks = (chunk_t *)malloc(sizeof(chunk_t) * MAX_CHUNKS);
    int m = 0;
    uint64_t dir_len = 0;
    if (!chunks) {
        release_all(bufs, 4);
        return PyErr_NoMemory();
    }
    if (bufs[0].b.len % row_bytes) {
        PyErr_SetString(PyExc_ValueError, "hashes length is not a multiple of row_bytes");
        goto fail;
    }
    if (parse_chunks(&bufs[1].b, 2, row_bytes * 8, chunks, &m, &dir_len)) goto fail;
    uint64_t n = (uint64_t)bufs[0].b.len / (uint64_t)row_bytes;
    if (n >= 0xFFFFFFFFULL) {
        PyErr_SetString(PyExc_ValueError, "a segment holds fewer than 2^32 - 1 rows");
        goto fail;
    }
    if ((uint64_t)bufs[2].b.len != dir_len * 4 || (uint64_t)bufs[3].b.len != (uint64_t)m * n * 4) {
        PyErr_SetString(PyExc_ValueError, "directory or rows buffer has the wrong size");
        goto fail;
    }
    const uint8_t *hashes = (const uint8_t *)bufs[0].b.buf;
    uint32_t *dir = (uint32_t *)bufs[2].b.buf;
    uint32_t *rows = (uint32_t *)bufs[3].b.buf;
    int nt = resolve_threads(threads);
    int failed = 0;

    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int i = 0; i < m; i++) {
        if (build_one(hashes, n, row_bytes, &chunks[i], dir + chunks[i].dir_base,
                      rows + (uint64_t)i * n)) {
#pragma omp atomic write
            failed = 1;
        }
    }
    Py_END_ALLOW_THREADS

    free(chunks);
    release_all(bufs, 4);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;

fail:
    free(chunks);
    release_all(bufs, 4);
    return NULL;
}

PyDoc_STRVAR(query_doc,
             "query(hashes, row_bytes, tombstones, chunks, directory, rows, queries, radius, "
             "threads)\n\n"
             "Search one segment. chunks holds int32 (offset, width, t) triples; with none, or "
             "none with t >= 0, every row is scanned. Returns three bytes objects: query index "
             "(int64), row (uint32) and distance (int32), sorted by query, distance, row.");

static PyObject *py_query(PyObject *self, PyObject *args) {
    PyObject *o_hashes, *o_tomb, *o_chunks, *o_dir, *o_rows, *o_queries;
    int row_bytes, radius, threads;
    if (!PyArg_ParseTuple(args, "OiOOOOOii", &o_hashes, &row_bytes, &o_tomb, &o_chunks, &o_dir,
                          &o_rows, &o_queries, &radius, &threads))
        return NULL;
    if (row_bytes < 8 || row_bytes % 8 || row_bytes > 8 * MAX_WORDS) {
        PyErr_SetString(PyExc_ValueError, "row_bytes must be a multiple of 8, at most 128");
        return NULL;
    }
    if (radius < 0 || radius > row_bytes * 8) {
        PyErr_SetString(PyExc_ValueError, "radius out of range");
        return NULL;
    }
    pybuf_t bufs[6];
    memset(bufs, 0, sizeof(bufs));
    if (get_buf(o_hashes, &bufs[0], 0, "hashes") || get_buf(o_tomb, &bufs[1], 0, "tombstones") ||
        get_buf(o_chunks, &bufs[2], 0, "chunks") || get_buf(o_dir, &bufs[3], 0, "directory") ||
        get_buf(o_rows, &bufs[4], 0, "rows") || get_buf(o_queries, &bufs[5], 0, "queries")) {
        release_all(bufs, 6);
        return NULL;
    }
    chunk_t *chunks = (chunk_t *)malloc(sizeof(chunk_t) * MAX_CHUNKS);
    vec_t *outs = NULL;
    uint64_t *qwords = NULL;
    PyObject *r_q = NULL, *r_rows = NULL, *r_dist = NULL;
    if (!chunks) {
        PyErr_NoMemory();
        goto done;
    }
    if (bufs[0].b.len % row_bytes || bufs[5].b.len % row_bytes) {
        PyErr_SetString(PyExc_ValueError, "hashes/queries length is not a multiple of row_bytes");
        goto done;
    }
    segment_t s;
    memset(&s, 0, sizeof(s));
    s.hashes = (const uint8_t *)bufs[0].b.buf;
    s.n = (uint64_t)bufs[0].b.len / (uint64_t)row_bytes;
    s.row_bytes = row_bytes;
    s.words = row_bytes / 8;
    s.tomb = (const uint8_t *)bufs[1].b.buf;
    s.radius = radius;
    if ((uint64_t)bufs[1].b.len < (s.n + 7) / 8) {
        PyErr_SetString(PyExc_ValueError, "tombstone bitmap is too short");
        goto done;
    }
    if (parse_chunks(&bufs[2].b, 3, row_bytes * 8, chunks, &s.m, &s.dir_len)) goto done;
    s.chunks = chunks;
    s.dir = (const uint32_t *)bufs[3].b.buf;
    s.rows = (const uint32_t *)bufs[4].b.buf;
    int probing = 0;
    for (int i = 0; i < s.m; i++)
        if (chunks[i].t >= 0) probing = 1;
    if (probing && ((uint64_t)bufs[3].b.len < s.dir_len * 4 ||
                    (uint64_t)bufs[4].b.len < (uint64_t)s.m * s.n * 4)) {
        PyErr_SetString(PyExc_ValueError, "directory or rows buffer is too short");
        goto done;
    }
    if (s.n >= 0xFFFFFFFFULL) {
        PyErr_SetString(PyExc_ValueError, "a segment holds fewer than 2^32 - 1 rows");
        goto done;
    }

    Py_ssize_t nq = bufs[5].b.len / row_bytes;
    outs = (vec_t *)calloc(nq > 0 ? (size_t)nq : 1, sizeof(vec_t));
    qwords = (uint64_t *)malloc((nq > 0 ? (size_t)nq : 1) * (size_t)s.words * sizeof(uint64_t));
    if (!outs || !qwords) {
        PyErr_NoMemory();
        goto done;
    }
    const uint8_t *qbytes = (const uint8_t *)bufs[5].b.buf;
    int nt = resolve_threads(threads);
    int failed = 0;
    uint64_t total = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nq; i++) load_row(qwords + i * s.words, qbytes + i * row_bytes, s.words);
    if (nt > nq) nt = nq > 0 ? (int)nq : 1;
    if (s.n > 0 && nq > 0) {
        /* Blocks of queries: small enough to balance threads, large enough to reuse a scan tile. */
        Py_ssize_t block = probing ? 4 : 32;
        if (!probing && nq / (8 * nt) < block) block = nq / (8 * nt) > 0 ? nq / (8 * nt) : 1;
        Py_ssize_t nblocks = (nq + block - 1) / block;
#pragma omp parallel num_threads(nt)
        {
            scratch_t sc;
            memset(&sc, 0, sizeof(sc));
#pragma omp for schedule(dynamic, 1)
            for (Py_ssize_t b = 0; b < nblocks; b++) {
                int stop;
#pragma omp atomic read
                stop = failed;
                if (stop) continue;
                Py_ssize_t q0 = b * block, q1 = q0 + block < nq ? q0 + block : nq;
                int rc = 0;
                if (probing) {
                    for (Py_ssize_t qi = q0; qi < q1 && !rc; qi++)
                        rc = probe_one(&s, qwords + qi * s.words, &outs[qi], &sc);
                } else {
                    rc = scan_block(&s, qwords + q0 * s.words, (int)(q1 - q0), &outs[q0]);
                }
                for (Py_ssize_t qi = q0; qi < q1; qi++) sort_u64(outs[qi].a, outs[qi].n);
                if (rc) {
#pragma omp atomic write
                    failed = 1;
                }
            }
            scratch_free(&sc);
        }
    }
    for (Py_ssize_t i = 0; i < nq; i++) total += outs[i].n;
    Py_END_ALLOW_THREADS

    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    r_q = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(int64_t)));
    r_rows = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(uint32_t)));
    r_dist = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(int32_t)));
    if (!r_q || !r_rows || !r_dist) goto done;
    {
        int64_t *oq = (int64_t *)PyBytes_AS_STRING(r_q);
        uint32_t *orow = (uint32_t *)PyBytes_AS_STRING(r_rows);
        int32_t *od = (int32_t *)PyBytes_AS_STRING(r_dist);
        uint64_t k = 0;
        for (Py_ssize_t i = 0; i < nq; i++) {
            for (size_t j = 0; j < outs[i].n; j++, k++) {
                oq[k] = (int64_t)i;
                orow[k] = (uint32_t)(outs[i].a[j] & 0xFFFFFFFFULL);
                od[k] = (int32_t)(outs[i].a[j] >> 32);
            }
        }
    }

done:
    if (outs) {
        Py_ssize_t nq2 = bufs[5].held ? bufs[5].b.len / row_bytes : 0;
        for (Py_ssize_t i = 0; i < nq2; i++) free(outs[i].a);
        free(outs);
    }
    free(qwords);
    free(chunks);
    release_all(bufs, 6);
    if (PyErr_Occurred()) {
        Py_XDECREF(r_q);
        Py_XDECREF(r_rows);
        Py_XDECREF(r_dist);
        return NULL;
    }
    PyObject *res = PyTuple_Pack(3, r_q, r_rows, r_dist);
    Py_DECREF(r_q);
    Py_DECREF(r_rows);
    Py_DECREF(r_dist);
    return res;
}

PyDoc_STRVAR(max_threads_doc, "max_threads() -> int\n\nThreads OpenMP uses by default.");

static PyObject *py_max_threads(PyObject *self, PyObject *noargs) {
    return PyLong_FromLong(resolve_threads(0));
}

static PyMethodDef methods[] = {
    {"build_tables", py_build_tables, METH_VARARGS, build_tables_doc},
    {"query", py_query, METH_VARARGS, query_doc},
    {"max_threads", py_max_threads, METH_NOARGS, max_threads_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_hamming",
    "Multi-index hashing over packed binary hashes (the core of jaga.index).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hamming(void) { return PyModule_Create(&moddef); }
