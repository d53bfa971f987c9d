/* The common cases of the reference normalization, compiled: albertctl.vocab.normalize's
 * normalize_batch over a whole batch of texts in one call.
 *
 *   check_batch(texts, changed, astral, inert, strips, lower, quotes, spaces, remove_space)
 *       -> (out, flagged, holes)
 *
 *   texts    list[str]
 *   changed  bytes[8192]  bit c (byte c >> 3, bit c & 7) set where some rule changes BMP
 *                         character c on its own (normalize._changed_ranges)
 *   astral   every astral character counts as changed (whenever some rule changes characters)
 *   inert    bytes[8192]  bit c set for the non-ASCII characters the caller proved inert (BMP only)
 *   strips   dict: changed code point -> (UTF-8 it becomes, flags) where accent stripping is a
 *            map of that one character, or None; learnt by normalize._learn_strips
 *   lower    lower-case (the ASCII letters of) the output
 *   quotes   map `` and '' to " (map_quotes), pairs from the left as str.replace does
 *   spaces   a text holding two spaces in a row, or a space at either end, is a hole
 *   remove_space   the rules collapse spaces first: a text needing quotes or strips and holding
 *            such spaces is a hole
 *
 * out[i] is what SentencePiece is given for texts[i]: its UTF-8 with LaTeX quotes mapped,
 * characters of strips replaced and ASCII lower-cased, where every changed character it holds
 * has a strip entry; else None (a hole: the rules path, in Python, fills it; a text with a lone
 * surrogate is always a hole). flagged lists, in order, the indices of the filled texts whose
 * output holds a digit, a control character or a non-ASCII character not in inert; holes lists
 * the None indices. The output equals normalize_batch's pure-Python loop, value for value and
 * flag for flag (tests/test_encode_fast.py compares the two); that loop stays the specification.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#define BITMAP_BYTES (0x10000 / 8)

static int bit(const unsigned char *map, Py_UCS4 c) { return (map[c >> 3] >> (c & 7)) & 1; }

typedef struct {
    const unsigned char *changed, *inert;
    PyObject *strips; /* dict: code point -> (replacement UTF-8 bytes, flags) or None */
    int astral, lower, quotes, spaces, remove_space;
} Check;

enum { FLAG_DIGIT = 1, FLAG_OTHER = 2 }; /* a strip entry's replacement holds a digit or control /
                                           * a non-ASCII character not inert */

/* A changed character's strip entry (a borrowed tuple), or NULL: the text is a hole. */
static PyObject *strip_entry(const Check *k, Py_UCS4 c) {
    if (k->strips == NULL) return NULL;
    PyObject *key = PyLong_FromUnsignedLong(c);
    if (key == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *entry = PyDict_GetItemWithError(k->strips, key);
    Py_DECREF(key);
    if (entry == NULL) PyErr_Clear();
    return entry == Py_None ? NULL : entry;
}

static Py_ssize_t utf8_length(Py_UCS4 c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : 3; /* BMP, no surrogates */ }

/* What one text is: 0 filled (*flag; *length > 0: it needs the rules below, and its output has
 * that many bytes), 1 a hole. */
static int check_text(PyObject *text, const Check *k, int *flag, Py_ssize_t *length) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), out = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int digit = 0, other = 0, edit = 0, doubled_space = 0;
    Py_UCS4 previous = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x20 && c < 0x7F) {
            out += 1;
            if (c >= '0' && c <= '9') {
                digit = 1;
            } else if (c == ' ' && previous == ' ') {
                if (k->spaces) return 1; /* doubled spaces */
                doubled_space = 1;
            } else if (k->quotes && (c == '`' || c == '\'') && c == previous) {
                edit = 1; /* doubled quotes: mapped to " below (pairs from the left) */
                out -= 1;
                c = 0; /* a third one starts a new pair */
            }
        } else if (c >= 0x10000 ? k->astral : (bit(k->changed, c) || (c >= 0xD800 && c <= 0xDFFF))) {
            /* a rule changes this character, or a lone surrogate (no UTF-8) */
            PyObject *entry = c < 0xD800 || (c > 0xDFFF && c < 0x10000) ? strip_entry(k, c) : NULL;
            if (entry == NULL) return 1;
            long flags = PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
            digit |= (flags & FLAG_DIGIT) != 0;
            other |= (flags & FLAG_OTHER) != 0;
            out += PyBytes_GET_SIZE(PyTuple_GET_ITEM(entry, 0));
            edit = 1;
        } else {
            out += c < 0x10000 ? utf8_length(c) : 4;
            if (c < 0x80 || c >= 0x10000 || !bit(k->inert, c)) other = 1; /* inert: BMP characters only */
        }
        previous = c;
    }
    int end_space = n > 0 && (PyUnicode_READ(kind, data, 0) == ' ' || PyUnicode_READ(kind, data, n - 1) == ' ');
    if (k->spaces && end_space) return 1;
    /* The rules path collapses spaces first where a rule applies: leave such a text to it. */
    if (edit && k->remove_space && (doubled_space || end_space)) return 1;
    *flag = digit || other;
    *length = edit ? (out > 0 ? out : 0) : -1;
    return 0;
}

/* The output of a text check_text filled with *length >= 0: quotes mapped, characters stripped
 * (their entries), ASCII lower-cased; the order of the reference's rules, each a map of single
 * characters once spaces need no collapsing. */
static PyObject *edited_utf8(PyObject *text, const Check *k, Py_ssize_t length) {
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, length);
    if (bytes == NULL) return NULL;
    char *out = PyBytes_AS_STRING(bytes);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), at = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            if (k->quotes && (c == '`' || c == '\'') && i + 1 < n && PyUnicode_READ(kind, data, i + 1) == c) {
                c = '"';
                i++;
            }
            out[at++] = (char)(k->lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else if (c < 0x10000 && bit(k->changed, c)) {
            PyObject *replacement = PyTuple_GET_ITEM(strip_entry(k, c), 0);
            const char *r = PyBytes_AS_STRING(replacement);
            for (Py_ssize_t j = 0, m = PyBytes_GET_SIZE(replacement); j < m; j++)
                out[at++] = (char)(k->lower && r[j] >= 'A' && r[j] <= 'Z' ? r[j] + 32 : r[j]);
        } else if (c < 0x800) {
            out[at++] = (char)(0xC0 | (c >> 6));
            out[at++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out[at++] = (char)(0xE0 | (c >> 12));
            out[at++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[at++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[at++] = (char)(0xF0 | (c >> 18));
            out[at++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[at++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[at++] = (char)(0x80 | (c & 0x3F));
        }
    }
    if (at != length) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_RuntimeError, "check_batch: edited length mismatch");
        return NULL;
    }
    return bytes;
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
    PyObject *texts, *strips;
    Py_buffer changed, inert;
    Check k;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!y*py*O!pppp", &PyList_Type, &texts, &changed, &k.astral, &inert, &PyDict_Type,
                          &strips, &k.lower, &k.quotes, &k.spaces, &k.remove_space))
        return NULL;
    PyObject *out = NULL, *flagged = NULL, *holes = NULL, *result = NULL;
    k.changed = changed.buf;
    k.inert = inert.buf;
    k.strips = PyDict_GET_SIZE(strips) ? strips : NULL;
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
        Py_ssize_t length = -1;
        PyObject *value = Py_None, *index = PyLong_FromSsize_t(i);
        if (index == NULL) goto done;
        int hole = check_text(text, &k, &flag, &length);
        if (hole) {
            Py_INCREF(Py_None);
        } else {
            value = length >= 0 ? edited_utf8(text, &k, length) : utf8_of(text, k.lower);
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
