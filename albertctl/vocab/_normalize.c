/* The common case of the reference normalization, compiled: albertctl.vocab.normalize.normalize_batch's
 * fast check, a whole batch of texts in one call.
 *
 *   check_batch(texts, changed, astral, inert, lower, quotes, spaces) -> (out, flagged, holes)
 *
 *   texts    list[str]
 *   changed  bytes[8192]  bit c (byte c >> 3, bit c & 7) set where some rule changes BMP
 *                         character c on its own (normalize._changed_ranges)
 *   astral   every astral character counts as changed (whenever some rule changes characters)
 *   inert    bytes[8192]  bit c set for the non-ASCII characters the caller proved inert (BMP only)
 *   lower    lower-case (the ASCII letters of) the output
 *   quotes   a text holding `` or '' takes the rules path (map_quotes)
 *   spaces   a text holding two spaces in a row, or a space at either end, takes the rules path
 *
 * out[i] is the UTF-8 of texts[i], ASCII-lower-cased when lower, where the check proves that
 * the only rule that applies; else None (a hole: the rules path, in Python, fills it; a text
 * with a lone surrogate is always a hole). flagged lists, in order, the indices of the filled
 * texts holding a digit, a control character or a non-ASCII character not in inert; holes lists
 * the None indices. This is the loop of normalize_batch's pure-Python path, test for test
 * (tests/test_encode_fast.py compares the two); that loop stays the specification.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#define BITMAP_BYTES (0x10000 / 8)

static int bit(const unsigned char *map, Py_UCS4 c) { return (map[c >> 3] >> (c & 7)) & 1; }

/* What one text is: 0 filled (flag in *flag), 1 a hole. */
static int check_text(PyObject *text, const unsigned char *changed, int astral, const unsigned char *inert,
                      int quotes, int spaces, int *flag) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int digit = 0, other = 0;
    Py_UCS4 previous = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x20 && c < 0x7F) {
            if (c >= '0' && c <= '9') {
                digit = 1;
            } else if (c == previous && ((quotes && (c == '`' || c == '\'')) || (spaces && c == ' '))) {
                return 1; /* doubled quotes or spaces */
            }
        } else if (c >= 0x10000 ? astral : (bit(changed, c) || (c >= 0xD800 && c <= 0xDFFF))) {
            return 1; /* a rule changes this character, or a lone surrogate (no UTF-8) */
        } else if (c < 0x80 || c >= 0x10000 || !bit(inert, c)) { /* inert: BMP characters only */
            other = 1;
        }
        previous = c;
    }
    if (spaces && n > 0 && (PyUnicode_READ(kind, data, 0) == ' ' || PyUnicode_READ(kind, data, n - 1) == ' '))
        return 1;
    *flag = digit || other;
    return 0;
}

static PyObject *utf8_of(PyObject *text, int lower) {
    Py_ssize_t n;
    const char *src;
    if (PyUnicode_IS_ASCII(text)) {
        src = PyUnicode_DATA(text);
        n = PyUnicode_GET_LENGTH(text);
    } else {
        src = PyUnicode_AsUTF8AndSize(text, &n);
        if (src == NULL) return NULL;
    }
    if (!lower || n == 0) return PyBytes_FromStringAndSize(src, n);
    /* A fresh object (never a shared one-byte singleton) to write into: ASCII letters lower-cased
     * as bytes.lower() does (UTF-8 continuation and lead bytes are all >= 0x80). */
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, n);
    if (bytes == NULL) return NULL;
    char *out = PyBytes_AS_STRING(bytes);
    for (Py_ssize_t i = 0; i < n; i++) out[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32) : src[i];
    return bytes;
}

static PyObject *check_batch(PyObject *self, PyObject *args) {
    PyObject *texts;
    Py_buffer changed, inert;
    int astral, lower, quotes, spaces;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!y*py*ppp", &PyList_Type, &texts, &changed, &astral, &inert, &lower, &quotes,
                          &spaces))
        return NULL;
    PyObject *out = NULL, *flagged = NULL, *holes = NULL, *result = NULL;
    if (changed.len != BITMAP_BYTES || inert.len != BITMAP_BYTES) {
        PyErr_SetString(PyExc_ValueError, "check_batch: the bitmaps must be 8192 bytes");
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(texts);
    out = PyList_New(n);
    flagged = PyList_New(0);
    holes = PyList_New(0);
    if (out == NULL || flagged == NULL || holes == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "check_batch: texts must be str");
            goto done;
        }
        int flag = 0;
        PyObject *value = Py_None, *index = PyLong_FromSsize_t(i);
        if (index == NULL) goto done;
        int hole = check_text(text, changed.buf, astral, inert.buf, quotes, spaces, &flag);
        if (hole) {
            Py_INCREF(Py_None);
        } else {
            value = utf8_of(text, lower);
        }
        int failed = value == NULL || ((hole || flag) && PyList_Append(hole ? holes : flagged, index) < 0);
        Py_DECREF(index);
        if (value == NULL) goto done;
        PyList_SET_ITEM(out, i, value);
        if (failed) goto done;
    }
    result = Py_BuildValue("(OOO)", out, flagged, holes);
done:
    Py_XDECREF(out);
    Py_XDECREF(flagged);
    Py_XDECREF(holes);
    PyBuffer_Release(&changed);
    PyBuffer_Release(&inert);
    return result;
}

static PyMethodDef methods[] = {
    {"check_batch", check_batch, METH_VARARGS, "normalize_batch's fast check over a list of texts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "albertctl.vocab._normalize",
    "The common case of the reference normalization, compiled (see the module source).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__normalize(void) { return PyModule_Create(&module); }
