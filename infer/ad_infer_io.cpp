/* ad_infer_io.cpp - inference artifacts on disk: model.json and weights.bin, saved and loaded */
#include "ad_infer_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "weights.bin is written little endian");

/* --------------------------------------------------------------------------
 * CRC32C (Castagnoli), bytewise table.
 */
static uint32_t
s_crc32c(const void *data, size_t len)
{
    static uint32_t table[256];
    static std::once_flag once;
    std::call_once(once, []() {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
    });
    const uint8_t *p = (const uint8_t *)data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* --------------------------------------------------------------------------
 * weights.bin: a 32-byte header ("ADWEIGHT", version, count, index bytes,
 * index CRC32C), the index (per tensor: name, dtype, shape, offset, bytes,
 * CRC32C), then the data, each tensor at a 64-byte aligned offset.
 */
enum { DT_F32 = 1, DT_I8 = 2, DT_F32_SPARSE = 3 };
static const char s_magic[8] = {'A', 'D', 'W', 'E', 'I', 'G', 'H', 'T'};
static const uint32_t s_weights_version = 1;
static const int s_model_version = 1;

/* One tensor as stored. */
struct Stored {
    std::string name;           /* e.g. n3.w */
    int dtype = DT_F32;         /* DT_* */
    std::vector<int64_t> shape; /* dims */
    std::vector<uint8_t> bytes; /* encoded data */
};

/* Encode an fp32 tensor, sparse (bitmap + non-zeros) when that is smaller. */
static Stored
s_encode_f32(const std::string &name, const at::Tensor &t)
{
    Stored s;
    s.name = name;
    s.shape = t.sizes().vec();
    at::Tensor c = t.contiguous();
    const float *p = c.data_ptr<float>();
    int64_t n = c.numel(), nz = 0;
    for (int64_t i = 0; i < n; i++)
        nz += p[i] != 0.0f;
    int64_t dense = n * 4, sparse = (n + 7) / 8 + nz * 4;
    if (sparse < dense) {
        s.dtype = DT_F32_SPARSE;
        s.bytes.assign((size_t)((n + 7) / 8), 0);
        for (int64_t i = 0; i < n; i++) {
            if (p[i] == 0.0f)
                continue;
            s.bytes[(size_t)(i / 8)] |= (uint8_t)(1u << (i % 8));
            const uint8_t *f = (const uint8_t *)&p[i];
            s.bytes.insert(s.bytes.end(), f, f + 4);
        }
    } else {
        s.bytes.assign((const uint8_t *)p, (const uint8_t *)p + dense);
    }
    return s;
}

static Stored
s_encode_i8(const std::string &name, const at::Tensor &t)
{
    Stored s;
    s.name = name;
    s.dtype = DT_I8;
    s.shape = t.sizes().vec();
    at::Tensor c = t.contiguous();
    const uint8_t *p = (const uint8_t *)c.data_ptr<int8_t>();
    s.bytes.assign(p, p + c.numel());
    return s;
}

static void
s_put(std::vector<uint8_t> &b, const void *p, size_t n)
{
    b.insert(b.end(), (const uint8_t *)p, (const uint8_t *)p + n);
}

/* The whole weights.bin image. */
static std::vector<uint8_t>
s_weights_image(const std::vector<Stored> &ts)
{
    std::vector<uint8_t> index;
    for (const Stored &s : ts) {
        uint16_t nl = (uint16_t)s.name.size();
        uint8_t dt = (uint8_t)s.dtype, nd = (uint8_t)s.shape.size();
        s_put(index, &nl, 2);
        s_put(index, s.name.data(), nl);
        s_put(index, &dt, 1);
        s_put(index, &nd, 1);
        s_put(index, s.shape.data(), 8 * s.shape.size());
        index.resize(index.size() + 8 + 8 + 4); /* offset, bytes, crc: filled below */
    }
    uint64_t off = (32 + index.size() + 63) / 64 * 64;
    size_t at = 0;
    std::vector<uint64_t> offs;
    for (const Stored &s : ts) {
        at += 2 + s.name.size() + 2 + 8 * s.shape.size();
        uint64_t nb = s.bytes.size();
        uint32_t crc = s_crc32c(s.bytes.data(), s.bytes.size());
        memcpy(&index[at], &off, 8);
        memcpy(&index[at + 8], &nb, 8);
        memcpy(&index[at + 16], &crc, 4);
        at += 20;
        offs.push_back(off);
        off = (off + nb + 63) / 64 * 64;
    }
    std::vector<uint8_t> img;
    uint32_t ver = s_weights_version, count = (uint32_t)ts.size(), zero = 0;
    uint64_t ib = index.size();
    uint32_t icrc = s_crc32c(index.data(), index.size());
    s_put(img, s_magic, 8);
    s_put(img, &ver, 4);
    s_put(img, &count, 4);
    s_put(img, &ib, 8);
    s_put(img, &icrc, 4);
    s_put(img, &zero, 4);
    s_put(img, index.data(), index.size());
    for (size_t i = 0; i < ts.size(); i++) {
        img.resize(offs[i], 0);
        s_put(img, ts[i].bytes.data(), ts[i].bytes.size());
    }
    return img;
}

/* Write data to dir/name through a temporary file, fsync'ed and renamed. */
static int
s_write_atomic(const std::string &dir, const char *name, const void *data, size_t len,
               ad_err_t *err)
{
    std::string path = dir + "/" + name, tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ad_err_set(err, AD_EIO, "%s: %s", tmp.c_str(), strerror(errno));
    const uint8_t *p = (const uint8_t *)data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp.c_str());
            return ad_err_set(err, AD_EIO, "%s: %s", path.c_str(), strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        return ad_err_set(err, AD_EIO, "%s: %s", path.c_str(), strerror(e));
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        return ad_err_set(err, AD_EIO, "%s: %s", path.c_str(), strerror(e));
    }
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* mkdir -p */
static int
s_mkdirs(const std::string &dir, ad_err_t *err)
{
    for (size_t i = 1; i <= dir.size(); i++) {
        if (i < dir.size() && dir[i] != '/')
            continue;
        std::string part = dir.substr(0, i);
        if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
            return ad_err_set(err, AD_EIO, "%s: %s", part.c_str(), strerror(errno));
    }
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return ad_err_set(err, AD_EIO, "%s: not a directory", dir.c_str());
    return 0;
}

/* The graph as model.json's "graph" array, and its tensors. */
static json_t *
s_graph_json(const ad_igraph_t *g, std::vector<Stored> &ts)
{
    json_t *arr = json_array();
    for (size_t k = 0; k < g->nodes.size(); k++) {
        const INode &n = g->nodes[k];
        json_t *o = json_object();
        json_object_set_new(o, "op", json_string(s_op_names[n.op]));
        if (n.op == OP_INPUT) {
            json_object_set_new(
                o, "shape", json_pack("[III]", (json_int_t)n.c, (json_int_t)n.h, (json_int_t)n.w));
        } else {
            json_t *in = json_array();
            json_array_append_new(in, json_integer(n.a));
            if (n.op == OP_ADD)
                json_array_append_new(in, json_integer(n.b));
            json_object_set_new(o, "in", in);
        }
        std::string base = "n" + std::to_string(k) + ".";
        if (n.op == OP_CONV || n.op == OP_LINEAR)
            json_object_set_new(o, "out", json_integer(n.out));
        if (n.op == OP_CONV) {
            json_object_set_new(o, "kernel", json_pack("[ii]", n.kh, n.kw));
            json_object_set_new(o, "groups", json_integer(n.groups));
        }
        if (n.op == OP_MAXPOOL)
            json_object_set_new(o, "kernel", json_integer(n.kh));
        if (n.op == OP_CONV || n.op == OP_MAXPOOL) {
            json_object_set_new(o, "stride", json_integer(n.stride));
            json_object_set_new(o, "pad", json_integer(n.pad));
        }
        if (n.op == OP_CONV || n.op == OP_LINEAR || n.op == OP_ADD)
            json_object_set_new(o, "act", json_string(s_act_names[n.act]));
        if (n.op == OP_CONV || n.op == OP_LINEAR) {
            json_object_set_new(o, "weight", json_string((base + "w").c_str()));
            json_object_set_new(o, "bias", json_string((base + "b").c_str()));
            ts.push_back(n.q ? s_encode_i8(base + "w", n.wq) : s_encode_f32(base + "w", n.wt));
            ts.push_back(s_encode_f32(base + "b", n.bias));
            if (n.q) {
                json_object_set_new(o, "wscale", json_string((base + "ws").c_str()));
                ts.push_back(s_encode_f32(base + "ws", n.wscale));
            }
        }
        if (n.qout) {
            json_object_set_new(o, "qscale", json_real(n.qs));
            json_object_set_new(o, "qzero", json_integer(n.qz));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

static int
s_igraph_save(const ad_igraph_t *self, const char *dir, const char *meta, ad_err_t *err)
{
    json_t *doc = nullptr;
    if (meta && *meta) {
        json_error_t je;
        doc = json_loads(meta, 0, &je);
        if (!doc || !json_is_object(doc)) {
            json_decref(doc);
            return ad_err_set(err, AD_EINVAL, "artifact meta is not a JSON object: %s", je.text);
        }
    } else {
        doc = json_object();
    }
    std::vector<Stored> ts;
    json_t *graph = s_graph_json(self, ts);
    std::vector<uint8_t> img = s_weights_image(ts);
    json_object_set_new(doc, "format", json_string("autodist-model"));
    json_object_set_new(doc, "version", json_integer(s_model_version));
    if (!json_object_get(doc, "variant"))
        json_object_set_new(doc, "variant", json_string("fp32"));
    json_object_set_new(doc, "params", json_integer(s_igraph_params(self)));
    json_object_set_new(doc, "weights_bytes", json_integer((json_int_t)img.size()));
    json_object_set_new(doc, "graph", graph);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    std::string d = dir;
    int rc = s_mkdirs(d, err);
    if (!rc)
        rc = s_write_atomic(d, "weights.bin", img.data(), img.size(), err);
    if (!rc) {
        std::string t = std::string(text) + "\n";
        rc = s_write_atomic(d, "model.json", t.data(), t.size(), err);
    }
    free(text);
    return rc;
}

extern "C" int
ad_igraph_save(const ad_igraph_t *self, const char *dir, const char *meta, ad_err_t *err)
{
    return ad_cxx_guard(err, "save", [&]() { return s_igraph_save(self, dir, meta, err); });
}

/* --------------------------------------------------------------------------
 * Loading, every check naming the file.
 */
static int
s_read_file(const std::string &path, std::vector<uint8_t> &buf, ad_err_t *err)
{
    FILE *f = fopen(path.c_str(), "rb");
    if (!f)
        return ad_err_set(err, AD_ECKPT, "%s: %s", path.c_str(), strerror(errno));
    buf.clear();
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf.insert(buf.end(), chunk, chunk + got);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return ad_err_set(err, AD_ECKPT, "%s: read error", path.c_str());
    return 0;
}

/* Decode one stored tensor into a float or int8 tensor. */
static int
s_decode(const std::string &path, const std::string &name, int dt,
         const std::vector<int64_t> &shape, const uint8_t *p, uint64_t nb, at::Tensor *out,
         ad_err_t *err)
{
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0 || d > (1 << 30) || (n *= d) > ((int64_t)1 << 32))
            return ad_err_set(err, AD_ECKPT, "%s: tensor %s has a bad shape", path.c_str(),
                              name.c_str());
    }
    if (dt == DT_F32 || dt == DT_I8) {
        uint64_t need = (uint64_t)n * (dt == DT_F32 ? 4 : 1);
        if (nb != need)
            return ad_err_set(err, AD_ECKPT,
                              "%s: tensor %s holds %llu bytes, its shape needs "
                              "%llu",
                              path.c_str(), name.c_str(), (unsigned long long)nb,
                              (unsigned long long)need);
        *out = at::empty(shape, dt == DT_F32 ? at::kFloat : at::kChar);
        memcpy(out->data_ptr(), p, nb);
        return 0;
    }
    if (dt != DT_F32_SPARSE)
        return ad_err_set(err, AD_ECKPT, "%s: tensor %s has unknown type %d", path.c_str(),
                          name.c_str(), dt);
    uint64_t bm = (uint64_t)(n + 7) / 8, nz = 0;
    if (nb < bm)
        return ad_err_set(err, AD_ECKPT, "%s: sparse tensor %s is short", path.c_str(),
                          name.c_str());
    for (uint64_t i = 0; i < bm; i++)
        nz += (uint64_t)__builtin_popcount(p[i]);
    if (nb != bm + nz * 4)
        return ad_err_set(err, AD_ECKPT,
                          "%s: sparse tensor %s holds %llu bytes, its bitmap "
                          "needs %llu",
                          path.c_str(), name.c_str(), (unsigned long long)nb,
                          (unsigned long long)(bm + nz * 4));
    *out = at::zeros(shape, at::kFloat);
    float *o = out->data_ptr<float>();
    const uint8_t *v = p + bm;
    for (int64_t i = 0; i < n; i++) {
        if (p[i / 8] & (1u << (i % 8))) {
            memcpy(&o[i], v, 4);
            v += 4;
        }
    }
    return 0;
}

/* Parse weights.bin into name -> tensor. */
static int
s_load_weights(const std::string &path, std::map<std::string, at::Tensor> &ts, int64_t *bytes,
               ad_err_t *err)
{
    std::vector<uint8_t> b;
    int rc = s_read_file(path, b, err);
    if (rc)
        return rc;
    *bytes = (int64_t)b.size();
    const char *f = path.c_str();
    if (b.size() < 32 || memcmp(b.data(), s_magic, 8) != 0)
        return ad_err_set(err, AD_ECKPT, "%s: not an autodist weights file%s", f,
                          b.size() < 32 ? " (truncated header)" : "");
    uint32_t ver, count, icrc;
    uint64_t ib;
    memcpy(&ver, &b[8], 4);
    memcpy(&count, &b[12], 4);
    memcpy(&ib, &b[16], 8);
    memcpy(&icrc, &b[24], 4);
    if (ver > s_weights_version)
        return ad_err_set(err, AD_ECKPT,
                          "%s: version %u is newer than this autodist reads "
                          "(%u)",
                          f, ver, s_weights_version);
    if (ib > b.size() - 32)
        return ad_err_set(err, AD_ECKPT, "%s: truncated (index of %llu bytes, file of %zu)", f,
                          (unsigned long long)ib, b.size());
    if (s_crc32c(&b[32], ib) != icrc)
        return ad_err_set(err, AD_ECKPT, "%s: the tensor index fails its CRC32C (corrupt)", f);
    size_t at = 32, end = 32 + ib;
    for (uint32_t t = 0; t < count; t++) {
        uint16_t nl;
        if (at + 2 > end)
            goto bad_index;
        memcpy(&nl, &b[at], 2);
        if (at + 2 + nl + 2 > end)
            goto bad_index;
        {
            std::string name((const char *)&b[at + 2], nl);
            at += 2 + nl;
            int dt = b[at], nd = b[at + 1];
            at += 2;
            if (at + 8 * (size_t)nd + 20 > end)
                goto bad_index;
            std::vector<int64_t> shape(nd);
            memcpy(shape.data(), &b[at], 8 * (size_t)nd);
            at += 8 * (size_t)nd;
            uint64_t off, nb;
            uint32_t crc;
            memcpy(&off, &b[at], 8);
            memcpy(&nb, &b[at + 8], 8);
            memcpy(&crc, &b[at + 16], 4);
            at += 20;
            if (off > b.size() || nb > b.size() - off)
                return ad_err_set(err, AD_ECKPT,
                                  "%s: truncated (tensor %s needs bytes up to "
                                  "%llu, the file has %zu)",
                                  f, name.c_str(), (unsigned long long)(off + nb), b.size());
            if (s_crc32c(&b[off], nb) != crc)
                return ad_err_set(err, AD_ECKPT, "%s: tensor %s fails its CRC32C (corrupt)", f,
                                  name.c_str());
            at::Tensor tensor;
            rc = s_decode(path, name, dt, shape, &b[off], nb, &tensor, err);
            if (rc)
                return rc;
            ts[name] = tensor;
        }
    }
    return 0;
bad_index:
    return ad_err_set(err, AD_ECKPT, "%s: the tensor index is malformed", f);
}

static int
s_jint(json_t *o, const char *key, int dflt, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return dflt == INT32_MIN ? -1 : 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN + 1 ||
        json_integer_value(v) > INT32_MAX)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

/* Find the tensor named by key, with the type wanted. */
static int
s_tensor(json_t *o, const char *key, std::map<std::string, at::Tensor> &ts, at::ScalarType st,
         at::Tensor *out, const std::string &where, ad_err_t *err)
{
    const char *name = json_string_value(json_object_get(o, key));
    if (!name)
        return ad_err_set(err, AD_ECKPT, "%s: no \"%s\" tensor name", where.c_str(), key);
    auto it = ts.find(name);
    if (it == ts.end())
        return ad_err_set(err, AD_ECKPT, "%s: tensor %s is not in weights.bin", where.c_str(),
                          name);
    if (it->second.scalar_type() != st)
        return ad_err_set(err, AD_ECKPT, "%s: tensor %s has the wrong type", where.c_str(), name);
    *out = it->second;
    return 0;
}

static int
s_act_of(json_t *o, int *act)
{
    const char *s = json_string_value(json_object_get(o, "act"));
    *act = AD_ACT_NONE;
    if (!s)
        return json_object_get(o, "act") ? -1 : 0;
    for (int k = 0; k < 3; k++)
        if (!strcmp(s, s_act_names[k]))
            return *act = k, 0;
    return -1;
}

/* One node of model.json's graph into g. */
static int
s_parse_node(ad_igraph_t *g, json_t *o, size_t k, std::map<std::string, at::Tensor> &ts,
             const std::string &file, ad_err_t *err)
{
    std::string where = file + ": graph node " + std::to_string(k);
    const char *op = json_string_value(json_object_get(o, "op"));
    INode n;
    n.op = -1;
    for (int i = 0; op && i < 6; i++)
        if (!strcmp(op, s_op_names[i]))
            n.op = i;
    if (n.op < 0 || (n.op == OP_INPUT) != (k == 0))
        return ad_err_set(err, AD_ECKPT, "%s: %s operation \"%s\"", where.c_str(),
                          n.op < 0 ? "unknown" : "misplaced", op ? op : "(none)");
    json_t *in = json_object_get(o, "in");
    json_t *qs = json_object_get(o, "qscale");
    if (qs) {
        int z;
        if (!json_is_number(qs) || !(json_number_value(qs) > 0) || s_jint(o, "qzero", 0, &z) ||
            z < 0 || z > 255)
            return ad_err_set(err, AD_ECKPT, "%s: bad qscale/qzero", where.c_str());
        n.qout = true, n.qs = json_number_value(qs), n.qz = z;
    }
    if (n.op == OP_INPUT) {
        json_t *s = json_object_get(o, "shape");
        json_int_t c = 0, h = 0, w = 0;
        if (json_unpack(s, "[III]", &c, &h, &w) || c < 1 || h < 1 || w < 1 || c > 4096 ||
            h > 65536 || w > 65536)
            return ad_err_set(err, AD_ECKPT, "%s: input shape must be [C, H, W]", where.c_str());
        g->nodes[0].c = c, g->nodes[0].h = h, g->nodes[0].w = w;
        g->nodes[0].qout = n.qout, g->nodes[0].qs = n.qs, g->nodes[0].qz = n.qz;
        return 0;
    }
    size_t want = n.op == OP_ADD ? 2 : 1;
    if (!json_is_array(in) || json_array_size(in) != want ||
        !json_is_integer(json_array_get(in, 0)) ||
        (want == 2 && !json_is_integer(json_array_get(in, 1))))
        return ad_err_set(err, AD_ECKPT, "%s: \"in\" must list %zu earlier node(s)", where.c_str(),
                          want);
    json_int_t a = json_integer_value(json_array_get(in, 0));
    json_int_t b = want == 2 ? json_integer_value(json_array_get(in, 1)) : 0;
    if (a < 0 || a >= (json_int_t)k || b < 0 || b >= (json_int_t)k)
        return ad_err_set(err, AD_ECKPT, "%s: reads a node that does not come before it",
                          where.c_str());
    n.a = (int)a, n.b = want == 2 ? (int)b : -1;
    if (s_act_of(o, &n.act))
        return ad_err_set(err, AD_ECKPT, "%s: unknown \"act\"", where.c_str());
    int bad = 0;
    if (n.op == OP_CONV) {
        json_int_t kh = 0, kw = 0;
        bad |= json_unpack(json_object_get(o, "kernel"), "[II]", &kh, &kw) || kh < 1 || kw < 1 ||
               kh > 64 || kw > 64;
        n.kh = (int)kh, n.kw = (int)kw;
        bad |= s_jint(o, "out", INT32_MIN, &n.out) | s_jint(o, "groups", 1, &n.groups) |
               s_jint(o, "stride", 1, &n.stride) | s_jint(o, "pad", 0, &n.pad);
    } else if (n.op == OP_LINEAR) {
        bad |= s_jint(o, "out", INT32_MIN, &n.out);
    } else if (n.op == OP_MAXPOOL) {
        bad |= s_jint(o, "kernel", INT32_MIN, &n.kh) | s_jint(o, "stride", INT32_MIN, &n.stride) |
               s_jint(o, "pad", 0, &n.pad);
        n.kw = n.kh;
    }
    if (bad)
        return ad_err_set(err, AD_ECKPT, "%s: missing or bad attributes", where.c_str());
    if (n.op == OP_CONV || n.op == OP_LINEAR) {
        n.q = json_object_get(o, "wscale") != nullptr;
        int rc = s_tensor(o, "weight", ts, n.q ? at::kChar : at::kFloat, n.q ? &n.wq : &n.wt, where,
                          err);
        if (!rc)
            rc = s_tensor(o, "bias", ts, at::kFloat, &n.bias, where, err);
        if (!rc && n.q)
            rc = s_tensor(o, "wscale", ts, at::kFloat, &n.wscale, where, err);
        if (rc)
            return rc;
        if (n.q && !(n.wscale.gt(0) & n.wscale.isfinite()).all().item<bool>())
            return ad_err_set(err, AD_ECKPT, "%s: weight scales must be positive", where.c_str());
    }
    int rc = s_igraph_append(g, std::move(n), err);
    if (rc < 0) {
        std::string msg = err ? err->msg : "";
        return ad_err_set(err, AD_ECKPT, "%s: %s", where.c_str(), msg.c_str());
    }
    return 0;
}

/* The descriptive keys of model.json: variant, arch, classes, normalize. */
static int
s_parse_meta(ad_infer_t *m, json_t *doc, const std::string &file, ad_err_t *err)
{
    const char *v = json_string_value(json_object_get(doc, "variant"));
    const char *a = json_string_value(json_object_get(doc, "arch"));
    m->variant = v ? v : "fp32";
    m->arch = a ? a : "";
    json_t *cls = json_object_get(doc, "classes"), *c;
    size_t i;
    json_array_foreach(cls, i, c)
    {
        const char *s = json_string_value(c);
        if (!s)
            return ad_err_set(err, AD_ECKPT, "%s: classes[%zu] is not a string", file.c_str(), i);
        m->classes.push_back(s);
    }
    json_t *norm = json_object_get(doc, "normalize");
    for (int k = 0; norm && k < 2; k++) {
        json_t *arr = json_object_get(norm, k ? "std" : "mean");
        float *dst = k ? m->stdv : m->mean;
        size_t n = json_array_size(arr);
        if (!arr)
            continue;
        if (n < 1 || n > 3)
            return ad_err_set(err, AD_ECKPT, "%s: normalize.%s must hold 1 to 3 numbers",
                              file.c_str(), k ? "std" : "mean");
        for (size_t j = 0; j < 3; j++) {
            json_t *x = json_array_get(arr, j < n ? j : n - 1);
            if (!json_is_number(x) || (k && !(json_number_value(x) > 0)))
                return ad_err_set(err, AD_ECKPT, "%s: normalize.%s[%zu] is not a %snumber",
                                  file.c_str(), k ? "std" : "mean", j, k ? "positive " : "");
            dst[j] = (float)json_number_value(x);
        }
    }
    return 0;
}

std::vector<int>
s_infer_last_use(const ad_igraph_t *g)
{
    std::vector<int> last(g->nodes.size(), (int)g->nodes.size());
    for (size_t k = 1; k < g->nodes.size(); k++) {
        last[g->nodes[k].a] = (int)k;
        if (g->nodes[k].b >= 0)
            last[g->nodes[k].b] = (int)k;
    }
    last.back() = (int)g->nodes.size(); /* the output is kept */
    return last;
}

static int
s_load(const char *dir, ad_infer_t **out, ad_err_t *err)
{
    std::string d = dir, file = d + "/model.json", wfile = d + "/weights.bin";
    std::vector<uint8_t> text;
    int rc = s_read_file(file, text, err);
    if (rc)
        return rc;
    json_error_t je;
    json_t *doc = json_loadb((const char *)text.data(), text.size(), 0, &je);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return ad_err_set(err, AD_ECKPT, "%s:%d: not a JSON object (%s)", file.c_str(), je.line,
                          doc ? "another JSON value" : je.text);
    }
    std::unique_ptr<json_t, void (*)(json_t *)> hold(doc, json_decref);
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (!fmt || strcmp(fmt, "autodist-model") != 0)
        return ad_err_set(err, AD_ECKPT,
                          "%s: not an autodist model (format \"%s\", expected "
                          "\"autodist-model\")",
                          file.c_str(), fmt ? fmt : "none");
    json_t *ver = json_object_get(doc, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1)
        return ad_err_set(err, AD_ECKPT, "%s: no format version", file.c_str());
    if (json_integer_value(ver) > s_model_version)
        return ad_err_set(err, AD_ECKPT,
                          "%s: format version %lld is newer than this autodist "
                          "reads (%d)",
                          file.c_str(), (long long)json_integer_value(ver), s_model_version);
    json_t *graph = json_object_get(doc, "graph");
    if (!json_is_array(graph) || json_array_size(graph) < 2)
        return ad_err_set(err, AD_ECKPT, "%s: no graph (an input and at least one layer)",
                          file.c_str());
    std::unique_ptr<ad_infer_t> m(new ad_infer());
    std::map<std::string, at::Tensor> ts;
    rc = s_load_weights(wfile, ts, &m->bytes, err);
    if (rc)
        return rc;
    json_t *wb = json_object_get(doc, "weights_bytes");
    if (wb && json_integer_value(wb) != m->bytes)
        return ad_err_set(err, AD_ECKPT,
                          "%s: %lld bytes, model.json says %lld (the files do "
                          "not belong together)",
                          wfile.c_str(), (long long)m->bytes, (long long)json_integer_value(wb));
    m->g.nodes.emplace_back();
    for (size_t k = 0; k < json_array_size(graph); k++) {
        rc = s_parse_node(&m->g, json_array_get(graph, k), k, ts, file, err);
        if (rc)
            return rc;
    }
    const INode &last = m->g.nodes.back();
    if (!last.flat)
        return ad_err_set(err, AD_ECKPT, "%s: the graph's last node is not N x classes",
                          file.c_str());
    rc = s_parse_meta(m.get(), doc, file, err);
    if (rc)
        return rc;
    for (const INode &n : m->g.nodes)
        m->int8 |= n.q || n.qout;
    if (m->int8)
        s_infer_prepack(&m->g);
    m->dnnl = s_dnnl_cache_new();
    m->last_use = s_infer_last_use(&m->g);
    m->meta_text.assign((const char *)text.data(), text.size());
    *out = m.release();
    return 0;
}

extern "C" int
ad_infer_load(const char *dir, ad_infer_t **out, ad_err_t *err)
{
    *out = nullptr;
    int rc = ad_cxx_guard(err, "load", [&]() { return s_load(dir, out, err); });
    if (rc == AD_ETORCH)
        rc = ad_err_set(err, AD_ECKPT, "%s: %s", dir, std::string(err ? err->msg : "").c_str());
    return rc;
}

/* --------------------------------------------------------------------------
 * Saving a loaded artifact.
 */
int
s_infer_meta_merge(const ad_infer_t *self, const char *meta, const char *variant, std::string *out,
                   ad_err_t *err)
{
    json_t *doc = json_loads(self->meta_text.c_str(), 0, nullptr);
    if (!doc)
        doc = json_object();
    for (const char *k : {"format", "version", "graph", "params", "weights_bytes"})
        json_object_del(doc, k);
    if (variant)
        json_object_set_new(doc, "variant", json_string(variant));
    if (meta && *meta) {
        json_error_t je;
        json_t *add = json_loads(meta, 0, &je);
        if (!add || !json_is_object(add)) {
            json_decref(add);
            json_decref(doc);
            return ad_err_set(err, AD_EINVAL, "artifact meta is not a JSON object: %s", je.text);
        }
        json_object_update(doc, add);
        json_decref(add);
    }
    char *t = json_dumps(doc, JSON_PRESERVE_ORDER);
    *out = t;
    free(t);
    json_decref(doc);
    return 0;
}

extern "C" int
ad_infer_save(const ad_infer_t *self, const char *dir, const char *meta, ad_err_t *err)
{
    std::string m;
    int rc = s_infer_meta_merge(self, meta, nullptr, &m, err);
    if (rc)
        return rc;
    return ad_igraph_save(&self->g, dir, m.c_str(), err);
}
