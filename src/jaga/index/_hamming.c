/* Placeholder: the Hamming index core lands with the banks/index issue. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_hamming", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__hamming(void) { return PyModule_Create(&moddef); }
