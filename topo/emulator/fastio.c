/* topo.emulator.fastio: the emulator's per-frame socket work in C (topo/emulator/frame_io.py).
 *
 * recv_batch(fd, limit, stamped, check_outgoing, previous_s) -> (frames, last_s)
 *     Takes up to ``limit`` frames waiting on a non-blocking AF_PACKET socket with recvmmsg
 *     (MSG_DONTWAIT, up to BATCH per call). Each frame becomes (arrival_s, ip_bytes, frame, key):
 *     arrival_s on CLOCK_MONOTONIC (time.monotonic()), from the kernel's SO_TIMESTAMPNS stamp
 *     (CLOCK_REALTIME, shifted by the realtime - monotonic offset read once per call) when
 *     ``stamped``, else the time the call returned; never before the previous frame's
 *     (``previous_s``, then each other), and our own clock where a stamp is in the future or more
 *     than 1 s old (a clock step). ip_bytes = length - 14 (1 for a runt); key = bytes 26..34 for
 *     an IPv4 frame (source + destination address), b"" otherwise (topo/emulator/source_bins.py).
 *     With ``check_outgoing`` frames whose sll_pkttype is PACKET_OUTGOING are skipped.
 *     last_s: the last arrival (``previous_s`` when nothing came).
 *
 * send_due(fd, due) -> (lateness, send_max_s, failed)
 *     ``due``: a list of (release_s, packet) with packet.frame bytes. Sends each frame with one
 *     send() (EINTR retried). A frame's lateness is when it was handed to the kernel minus its
 *     release_s; what a send spends inside the kernel (on a veth: the receiver's stack) counts
 *     against the next frame, as in the Python path. lateness: bytes of native doubles, one per
 *     frame sent (array("d").frombytes); send_max_s: the longest send; failed: None, or the
 *     list of indexes whose send failed (not counted in lateness).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define FRAME_BYTES 65536
#define ETHERNET_HEADER_BYTES 14
#define CONTROL_BYTES 64

static unsigned char frames[BATCH][FRAME_BYTES];
static char controls[BATCH][CONTROL_BYTES];
static struct sockaddr_ll addresses[BATCH];
static struct iovec iovecs[BATCH];
static struct mmsghdr messages[BATCH];
static PyObject *empty_key;
static PyObject *frame_name;

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int stamp_of(struct msghdr *header, double *stamp_s)
{
    struct cmsghdr *cmsg;
    for (cmsg = CMSG_FIRSTHDR(header); cmsg != NULL; cmsg = CMSG_NXTHDR(header, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SO_TIMESTAMPNS
                && cmsg->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cmsg), sizeof(ts));
            *stamp_s = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
            return 1;
        }
    }
    return 0;
}

static PyObject *frame_tuple(const unsigned char *data, Py_ssize_t size, double arrival_s)
{
    /* (arrival_s, ip_bytes, frame, key) */
    PyObject *tuple = PyTuple_New(4);
    if (tuple == NULL)
        return NULL;
    PyObject *key;
    if (size > 26 && data[12] == 0x08 && data[13] == 0x00)
        key = PyBytes_FromStringAndSize((const char *)data + 26, (size < 34 ? size : 34) - 26);
    else
        key = Py_NewRef(empty_key);
    PyTuple_SET_ITEM(tuple, 0, PyFloat_FromDouble(arrival_s));
    PyTuple_SET_ITEM(tuple, 1, PyLong_FromSsize_t(size > ETHERNET_HEADER_BYTES ? size - ETHERNET_HEADER_BYTES : 1));
    PyTuple_SET_ITEM(tuple, 2, PyBytes_FromStringAndSize((const char *)data, size));
    PyTuple_SET_ITEM(tuple, 3, key);
    for (int i = 0; i < 4; i++) {
        if (PyTuple_GET_ITEM(tuple, i) == NULL) {
            Py_DECREF(tuple);  /* a NULL item is skipped by the tuple's dealloc */
            return NULL;
        }
    }
    return tuple;
}

static PyObject *recv_batch(PyObject *self, PyObject *args)
{
    int fd, stamped, check_outgoing;
    Py_ssize_t limit;
    double previous_s;
    if (!PyArg_ParseTuple(args, "inppd", &fd, &limit, &stamped, &check_outgoing, &previous_s))
        return NULL;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    Py_ssize_t taken = 0;
    while (taken < limit) {
        int want = limit - taken < BATCH ? (int)(limit - taken) : BATCH;
        for (int i = 0; i < want; i++) {
            iovecs[i].iov_base = frames[i];
            iovecs[i].iov_len = FRAME_BYTES;
            memset(&messages[i].msg_hdr, 0, sizeof(struct msghdr));
            messages[i].msg_hdr.msg_iov = &iovecs[i];
            messages[i].msg_hdr.msg_iovlen = 1;
            messages[i].msg_hdr.msg_name = &addresses[i];
            messages[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_ll);
            if (stamped) {
                messages[i].msg_hdr.msg_control = controls[i];
                messages[i].msg_hdr.msg_controllen = CONTROL_BYTES;
            }
        }
        int got = recvmmsg(fd, messages, (unsigned int)want, MSG_DONTWAIT, NULL);
        if (got < 0) {
            if (errno == EINTR)
                continue;  /* a signal: its handler runs when we return to the loop */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            PyErr_SetFromErrno(PyExc_OSError);
            Py_DECREF(list);
            return NULL;
        }
        if (got == 0)
            break;
        double now_s = seconds(CLOCK_MONOTONIC);
        double offset_s = stamped ? seconds(CLOCK_REALTIME) - seconds(CLOCK_MONOTONIC) : 0.0;
        for (int i = 0; i < got; i++) {
            if (check_outgoing && addresses[i].sll_pkttype == PACKET_OUTGOING)
                continue;
            double arrival_s = now_s, stamp_s;
            if (stamped && stamp_of(&messages[i].msg_hdr, &stamp_s)) {
                arrival_s = stamp_s - offset_s;
                if (arrival_s > now_s || arrival_s < now_s - 1.0)
                    arrival_s = now_s;
            }
            if (arrival_s < previous_s)
                arrival_s = previous_s;
            previous_s = arrival_s;
            Py_ssize_t size = messages[i].msg_len < FRAME_BYTES ? messages[i].msg_len : FRAME_BYTES;
            PyObject *item = frame_tuple(frames[i], size, arrival_s);
            if (item == NULL || PyList_Append(list, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(list);
                return NULL;
            }
            Py_DECREF(item);
        }
        taken += got;
        if (got < want)
            break;  /* the socket is empty */
    }
    return Py_BuildValue("(Nd)", list, previous_s);
}

static PyObject *send_due(PyObject *self, PyObject *args)
{
    int fd;
    PyObject *due;
    if (!PyArg_ParseTuple(args, "iO!", &fd, &PyList_Type, &due))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(due);
    PyObject *lateness = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(double));
    if (lateness == NULL)
        return NULL;
    double *late = (double *)PyBytes_AS_STRING(lateness);
    PyObject *failed = NULL;
    Py_ssize_t sent = 0;
    double send_max_s = 0.0;
    double handed_s = seconds(CLOCK_MONOTONIC);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *entry = PyList_GET_ITEM(due, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2) {
            PyErr_SetString(PyExc_TypeError, "send_due: due holds (release_s, packet) pairs");
            goto error;
        }
        double release_s = PyFloat_AsDouble(PyTuple_GET_ITEM(entry, 0));
        if (release_s == -1.0 && PyErr_Occurred())
            goto error;
        PyObject *frame = PyObject_GetAttr(PyTuple_GET_ITEM(entry, 1), frame_name);
        if (frame == NULL)
            goto error;
        if (!PyBytes_Check(frame)) {
            Py_DECREF(frame);
            PyErr_SetString(PyExc_TypeError, "send_due: packet.frame must be bytes");
            goto error;
        }
        ssize_t result;
        do {
            result = send(fd, PyBytes_AS_STRING(frame), (size_t)PyBytes_GET_SIZE(frame), 0);
        } while (result < 0 && errno == EINTR);
        Py_DECREF(frame);
        double done_s = seconds(CLOCK_MONOTONIC);
        if (result < 0) {
            if (failed == NULL && (failed = PyList_New(0)) == NULL)
                goto error;
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(failed, index) < 0) {
                Py_XDECREF(index);
                goto error;
            }
            Py_DECREF(index);
            handed_s = done_s;
            continue;
        }
        late[sent++] = handed_s - release_s;
        if (done_s - handed_s > send_max_s)
            send_max_s = done_s - handed_s;
        handed_s = done_s;
    }
    if (sent < count && _PyBytes_Resize(&lateness, sent * (Py_ssize_t)sizeof(double)) < 0) {
        Py_XDECREF(failed);
        return NULL;
    }
    if (failed == NULL)
        failed = Py_NewRef(Py_None);
    return Py_BuildValue("(NdN)", lateness, send_max_s, failed);
error:
    Py_DECREF(lateness);
    Py_XDECREF(failed);
    return NULL;
}

static PyMethodDef methods[] = {
    {"recv_batch", recv_batch, METH_VARARGS,
     "recv_batch(fd, limit, stamped, check_outgoing, previous_s) -> ([(arrival_s, ip_bytes, frame, key)], last_s)"},
    {"send_due", send_due, METH_VARARGS,
     "send_due(fd, [(release_s, packet)]) -> (lateness doubles as bytes, send_max_s, failed indexes or None)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fastio", "The emulator's batched socket I/O (topo/emulator/fastio.c).", -1, methods,
};

PyMODINIT_FUNC PyInit_fastio(void)
{
    empty_key = PyBytes_FromStringAndSize(NULL, 0);
    frame_name = PyUnicode_InternFromString("frame");
    if (empty_key == NULL || frame_name == NULL)
        return NULL;
    return PyModule_Create(&module);
}
