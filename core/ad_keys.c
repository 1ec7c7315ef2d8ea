/* ad_keys.c - CURVE keys: the home's key folder, users, rotation, the coordinator's ZAP handler */
#include "autodist/ad_keys.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autodist/ad_log.h"

/* Refused keys logged once each; past this many distinct ones, one last line and silence. */
#define S_LOGGED_MAX 10000

static const char *const s_role_names[] = {"none", "admin", "user", "node"};

const char *
ad_keys_role_name(ad_keys_role_t role)
{
    return role >= AD_KEYS_ROLE_NONE && role <= AD_KEYS_ROLE_NODE ? s_role_names[role] : "none";
}

bool
ad_keys_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > AD_KEYS_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("_-.", name[i]))
            return false;
    return true;
}

/* ---- files ---------------------------------------------------------------------------------- */

static bool
s_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Create dir (mode 0700) unless it is there; tighten it when it is open to others. */
static int
s_mkdir(const char *dir, ad_err_t *err)
{
    struct stat st;

    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return ad_err_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ad_err_set(err, -ENOTDIR, "%s is in the way of a key folder", dir);
    if ((st.st_mode & 077) && chmod(dir, 0700) != 0)
        return ad_err_set(err, -errno, "cannot make %s private: %s", dir, strerror(errno));
    return 0;
}

/*
 * Write a new pair at base(+_secret) with metadata role and name, through a
 * temporary name so a reader never sees half a pair.
 */
static int
s_write_pair(const char *base, const char *role, const char *name, ad_err_t *err)
{
    char tmp[PATH_MAX], tmp_secret[PATH_MAX + 8], secret[PATH_MAX + 8];
    zcert_t *cert = zcert_new();
    int rc = 0;

    if (!cert)
        ad_oom(sizeof(void *));
    zcert_set_meta(cert, "role", "%s", role);
    zcert_set_meta(cert, "name", "%s", name);
    snprintf(tmp, sizeof(tmp), "%s.new", base);
    snprintf(tmp_secret, sizeof(tmp_secret), "%s_secret", tmp);
    snprintf(secret, sizeof(secret), "%s_secret", base);
    errno = 0;
    if (zcert_save(cert, tmp) != 0) {
        rc = ad_err_set(err, errno ? -errno : -EIO, "cannot write CURVE key %s: %s", tmp,
                        strerror(errno ? errno : EIO));
        goto out_destroy;
    }
    if (chmod(tmp_secret, 0600) != 0 || rename(tmp_secret, secret) != 0 || rename(tmp, base) != 0)
        rc = ad_err_set(err, -errno, "cannot install CURVE key %s: %s", base, strerror(errno));
out_destroy:
    zcert_destroy(&cert);
    return rc;
}

/* Write the pair base unless both of its files are there. */
static int
s_make_pair(const char *base, const char *role, const char *name, ad_err_t *err)
{
    char secret[PATH_MAX + 8];

    snprintf(secret, sizeof(secret), "%s_secret", base);
    if (s_exists(secret) && s_exists(base))
        return 0;
    return s_write_pair(base, role, name, err);
}

/* Copy the public half of certificate from into to (atomically). */
static int
s_copy_public(const char *from, const char *to, ad_err_t *err)
{
    char tmp[PATH_MAX + 8];
    zcert_t *cert = zcert_load(from);
    int rc = 0;

    if (!cert)
        return ad_err_set(err, -ENOENT, "cannot read CURVE certificate %s", from);
    snprintf(tmp, sizeof(tmp), "%s.new", to);
    if (zcert_save_public(cert, tmp) != 0 || rename(tmp, to) != 0)
        rc = ad_err_set(err, -EIO, "cannot write CURVE certificate %s", to);
    zcert_destroy(&cert);
    return rc;
}

/* A client folder: dir (0700), its pair, a copy of keys_dir/server.cert. */
static int
s_make_client_dir(const char *keys_dir, const char *dir, const char *role, const char *name,
                  bool copy_server, ad_err_t *err)
{
    char path[PATH_MAX], server[PATH_MAX];
    int rc = s_mkdir(dir, err);

    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/client.cert", dir);
    rc = s_make_pair(path, role, name, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/server.cert", dir);
    snprintf(server, sizeof(server), "%s/server.cert", keys_dir);
    if (!copy_server && s_exists(path))
        return 0;
    return s_copy_public(server, path, err);
}

static const char *
s_login_name(void)
{
    const char *u = getenv("USER");
    struct passwd *pw;

    if (u && ad_keys_valid_name(u))
        return u;
    pw = getpwuid(getuid());
    return pw && ad_keys_valid_name(pw->pw_name) ? pw->pw_name : "admin";
}

int
ad_keys_init(const char *keys_dir, const char *admin_name, ad_err_t *err)
{
    char path[PATH_MAX];
    int rc;

    assert(keys_dir);
    rc = s_mkdir(keys_dir, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/server.cert", keys_dir);
    rc = s_make_pair(path, "server", "coordinator", err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/client.cert", keys_dir);
    rc = s_make_pair(path, "admin", admin_name ? admin_name : s_login_name(), err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/node", keys_dir);
    rc = s_make_client_dir(keys_dir, path, "node", "node", false, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/users", keys_dir);
    return s_mkdir(path, err);
}

/* The admin's name (metadata of keys_dir/client.cert), copied to buf; "" when unreadable. */
static void
s_admin_name(const char *keys_dir, char *buf, size_t size)
{
    char path[PATH_MAX];
    zcert_t *cert;
    const char *name;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/client.cert", keys_dir);
    cert = s_exists(path) ? zcert_load(path) : NULL;
    name = cert ? zcert_meta(cert, "name") : NULL;
    snprintf(buf, size, "%s", name ? name : "");
    zcert_destroy(&cert);
}

int
ad_keys_add_user(const char *keys_dir, const char *name, ad_err_t *err)
{
    char dir[PATH_MAX], admin[AD_KEYS_NAME_MAX + 1];
    int rc;

    if (!ad_keys_valid_name(name))
        return ad_err_set(err, AD_EINVAL,
                          "bad user name \"%s\": 1..%d letters, digits, '_', '-' or '.'",
                          name ? name : "", AD_KEYS_NAME_MAX);
    rc = ad_keys_init(keys_dir, NULL, err);
    if (rc)
        return rc;
    s_admin_name(keys_dir, admin, sizeof(admin));
    if (!strcmp(name, admin))
        return ad_err_set(err, AD_EINVAL, "%s is the admin (the owner of this home): pick another "
                          "name", name);
    snprintf(dir, sizeof(dir), "%s/users/%s", keys_dir, name);
    if (s_exists(dir))
        return ad_err_set(err, -EEXIST, "user %s has keys already (%s); `autodist keys revoke "
                          "%s` first to make new ones", name, dir, name);
    return s_make_client_dir(keys_dir, dir, "user", name, true, err);
}

int
ad_keys_revoke(const char *keys_dir, const char *name, ad_err_t *err)
{
    static const char *const files[] = {"client.cert", "client.cert_secret", "server.cert"};
    char dir[PATH_MAX], path[PATH_MAX + 32];

    if (!ad_keys_valid_name(name))
        return ad_err_set(err, AD_EINVAL, "bad user name \"%s\"", name ? name : "");
    snprintf(dir, sizeof(dir), "%s/users/%s", keys_dir, name);
    if (!s_exists(dir))
        return ad_err_set(err, -ENOENT, "no user %s (see `autodist keys list`)", name);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            return ad_err_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
    }
    if (rmdir(dir) != 0)
        return ad_err_set(err, -errno, "cannot remove %s: %s", dir, strerror(errno));
    return 0;
}

int
ad_keys_rotate(const char *keys_dir, ad_err_t *err)
{
    char server[PATH_MAX], path[PATH_MAX + 300];
    struct dirent *e;
    DIR *d;
    int rc;

    rc = ad_keys_init(keys_dir, NULL, err);
    if (rc)
        return rc;
    snprintf(server, sizeof(server), "%s/server.cert", keys_dir);
    rc = s_write_pair(server, "server", "coordinator", err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/node/server.cert", keys_dir);
    rc = s_copy_public(server, path, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/users", keys_dir);
    d = opendir(path);
    while (d && (e = readdir(d))) {
        if (!ad_keys_valid_name(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/users/%s/server.cert", keys_dir, e->d_name);
        rc = s_copy_public(server, path, err);
        if (rc)
            break;
    }
    if (d)
        closedir(d);
    return rc;
}

/* One row of ad_keys_list(), or nothing when path has no readable certificate. */
static void
s_list_add(json_t *rows, const char *path, const char *role, const char *name, const char *dir)
{
    zcert_t *cert = s_exists(path) ? zcert_load(path) : NULL;
    const char *meta;

    if (!cert)
        return;
    meta = zcert_meta(cert, "name");
    if (!name)
        name = meta ? meta : "";
    json_array_append_new(rows, json_pack("{s:s s:s s:s s:s}", "name", name, "role", role, "key",
                                          zcert_public_txt(cert), "folder", dir));
    zcert_destroy(&cert);
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *
ad_keys_list(const char *keys_dir, ad_err_t *err)
{
    char path[PATH_MAX + 400], dir[PATH_MAX + 300];
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    json_t *rows;
    DIR *d;

    snprintf(path, sizeof(path), "%s/server.cert", keys_dir);
    if (!s_exists(path)) {
        ad_err_set(err, -ENOENT, "no keys at %s (autodistd and `autodist up` make them)", keys_dir);
        return NULL;
    }
    rows = json_array();
    snprintf(path, sizeof(path), "%s/client.cert", keys_dir);
    s_list_add(rows, path, "admin", NULL, keys_dir);
    snprintf(dir, sizeof(dir), "%s/node", keys_dir);
    snprintf(path, sizeof(path), "%s/client.cert", dir);
    s_list_add(rows, path, "node", "node", dir);
    snprintf(path, sizeof(path), "%s/users", keys_dir);
    d = opendir(path);
    while (d && (e = readdir(d)))
        if (ad_keys_valid_name(e->d_name)) {
            names = ad_realloc(names, (n + 1) * sizeof(*names));
            names[n++] = ad_strdup(e->d_name);
        }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), s_cmp_str);
    for (size_t i = 0; i < n; i++) {
        snprintf(dir, sizeof(dir), "%s/users/%s", keys_dir, names[i]);
        snprintf(path, sizeof(path), "%s/client.cert", dir);
        s_list_add(rows, path, "user", names[i], dir);
        free(names[i]);
    }
    free(names);
    return rows;
}

int
ad_keys_check_client(const char *client_dir, ad_err_t *err)
{
    static const char *const files[] = {"client.cert_secret", "client.cert", "server.cert"};
    char path[PATH_MAX + 32];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", client_dir, files[i]);
        if (!s_exists(path))
            return ad_err_set(err, -ENOENT, "no CURVE key at %s", path);
    }
    return 0;
}

ad_keys_role_t
ad_keys_parse_user_id(const char *user_id, char *name, size_t size)
{
    const char *slash = user_id ? strchr(user_id, '/') : NULL;
    size_t len;

    if (size)
        name[0] = '\0';
    if (!slash)
        return AD_KEYS_ROLE_NONE;
    len = (size_t)(slash - user_id);
    for (int r = AD_KEYS_ROLE_ADMIN; r <= AD_KEYS_ROLE_NODE; r++)
        if (strlen(s_role_names[r]) == len && !strncmp(user_id, s_role_names[r], len)) {
            snprintf(name, size, "%s", slash + 1);
            return (ad_keys_role_t)r;
        }
    return AD_KEYS_ROLE_NONE;
}

bool
ad_keys_is_loopback(const char *endpoint)
{
    char host[256];
    const char *h, *colon;
    struct in_addr a4;
    size_t n;

    if (!endpoint)
        return false;
    if (!strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9))
        return true;
    if (strncmp(endpoint, "tcp://", 6))
        return false;
    h = endpoint + 6;
    colon = strrchr(h, ':');
    if (!colon)
        return false;
    n = (size_t)(colon - h);
    if (n >= sizeof(host) || n == 0)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    /* "tcp://eth0;127.0.0.1:7400": the part before ';' is the source; the peer is what counts. */
    if (strchr(host, ';'))
        return false;
    if (!strcmp(host, "localhost") || !strcmp(host, "[::1]"))
        return true;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* ---- the ZAP handler ------------------------------------------------------------------------- */

/* A key the coordinator admits. */
typedef struct {
    ad_keys_role_t role;              /* whose */
    char name[AD_KEYS_NAME_MAX + 1];  /* user name, the admin's name, or "node" */
} s_key_t;

/* The handler's state, owned by its thread. */
typedef struct {
    char *dir;          /* the key folder */
    zhashx_t *keys;     /* public key (Z85) -> s_key_t */
    zhashx_t *logged;   /* "address key domain" of refusals already logged */
    bool logged_full;   /* the last line about refusals was logged */
    struct timespec mt[3]; /* mtimes of dir, dir/node, dir/users when read */
} s_auth_t;

static void
s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_auth_add(s_auth_t *self, const char *path, ad_keys_role_t role, const char *name)
{
    zcert_t *cert = s_exists(path) ? zcert_load(path) : NULL;
    const char *meta;
    s_key_t *k;

    if (!cert)
        return;
    k = ad_calloc(1, sizeof(*k));
    k->role = role;
    meta = zcert_meta(cert, "name");
    snprintf(k->name, sizeof(k->name), "%s", name ? name : meta && *meta ? meta : "admin");
    zhashx_update(self->keys, zcert_public_txt(cert), k);
    zcert_destroy(&cert);
}

/* Read the folder's keys again when any of its three folders changed. */
static void
s_auth_refresh(s_auth_t *self)
{
    static const char *const subs[] = {"", "/node", "/users"};
    char path[PATH_MAX + 300];
    struct timespec mt[3] = {{0}};
    struct dirent *e;
    struct stat st;
    DIR *d;

    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", self->dir, subs[i]);
        if (stat(path, &st) == 0)
            mt[i] = st.st_mtim;
    }
    if (zhashx_size(self->keys) && !memcmp(mt, self->mt, sizeof(mt)))
        return;
    memcpy(self->mt, mt, sizeof(mt));
    zhashx_purge(self->keys);
    snprintf(path, sizeof(path), "%s/client.cert", self->dir);
    s_auth_add(self, path, AD_KEYS_ROLE_ADMIN, NULL);
    snprintf(path, sizeof(path), "%s/node/client.cert", self->dir);
    s_auth_add(self, path, AD_KEYS_ROLE_NODE, "node");
    snprintf(path, sizeof(path), "%s/users", self->dir);
    d = opendir(path);
    while (d && (e = readdir(d))) {
        if (!ad_keys_valid_name(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/users/%s/client.cert", self->dir, e->d_name);
        s_auth_add(self, path, AD_KEYS_ROLE_USER, e->d_name);
    }
    if (d)
        closedir(d);
    ad_log(AD_LOG_DEBUG, "CURVE: %zu keys admitted from %s", zhashx_size(self->keys), self->dir);
}

/* Log a refusal once per address, key and domain. */
static void
s_auth_refused(s_auth_t *self, const char *address, const char *key, const char *domain,
               const char *why)
{
    char tag[512];

    snprintf(tag, sizeof(tag), "%s %s %s", address, key, domain);
    if (zhashx_lookup(self->logged, tag))
        return;
    if (zhashx_size(self->logged) >= S_LOGGED_MAX) {
        if (!self->logged_full)
            ad_log(AD_LOG_WARN, "CURVE: %d refused keys logged; further ones are not",
                   S_LOGGED_MAX);
        self->logged_full = true;
        return;
    }
    zhashx_insert(self->logged, tag, ad_strdup(""));
    ad_log(AD_LOG_WARN, "refused a connection from %s on the %s socket: %s (key %s); logged "
           "once per address and key", address,
           strcmp(domain, AD_KEYS_DOMAIN_NODES) ? "client" : "agents/metrics", why, key);
}

/* Decide one ZAP request; returns the status code and fills user_id. */
static const char *
s_auth_decide(s_auth_t *self, zmsg_t *req, char *user_id, size_t size, const char **text)
{
    char *domain = NULL, *address = NULL, *mech = NULL;
    char key[41] = "";
    const s_key_t *k;
    zframe_t *cred;
    const char *code = "400";
    bool nodes;

    zframe_destroy(&(zframe_t *){zmsg_pop(req)}); /* version, checked by the caller */
    zframe_destroy(&(zframe_t *){zmsg_pop(req)}); /* request id, kept by the caller */
    domain = zmsg_popstr(req);
    address = zmsg_popstr(req);
    zframe_destroy(&(zframe_t *){zmsg_pop(req)}); /* routing id */
    mech = zmsg_popstr(req);
    *text = "only CURVE keys are admitted";
    if (!domain || !address || !mech || strcmp(mech, "CURVE"))
        goto out;
    cred = zmsg_first(req);
    if (!cred || zframe_size(cred) != 32)
        goto out;
    zmq_z85_encode(key, zframe_data(cred), 32);
    s_auth_refresh(self);
    k = zhashx_lookup(self->keys, key);
    nodes = !strcmp(domain, AD_KEYS_DOMAIN_NODES);
    if (!k) {
        *text = "unknown key";
        s_auth_refused(self, address, key, domain, "unknown key");
    } else if (nodes != (k->role == AD_KEYS_ROLE_NODE)) {
        *text = nodes ? "this socket takes the node key only" : "the node key is not a client key";
        s_auth_refused(self, address, key, domain, *text);
    } else {
        code = "200";
        *text = "OK";
        snprintf(user_id, size, "%s/%s", ad_keys_role_name(k->role), k->name);
    }
out:
    free(domain);
    free(address);
    free(mech);
    return code;
}

/* What ad_keys_auth_new() gives its actor: the folder (the actor's from then on), and the
 * outcome of the bind, read once the actor has signalled. */
typedef struct {
    char *dir;  /* the key folder (owned by the actor once started) */
    bool bound; /* the handler socket is bound */
} s_auth_args_t;

static void
s_auth_actor(zsock_t *pipe, void *arg)
{
    s_auth_args_t *args = arg;
    s_auth_t self = {0};
    zsock_t *handler = zsock_new(ZMQ_REP);
    zpoller_t *poller;

    self.dir = args->dir;
    self.keys = zhashx_new();
    zhashx_set_destructor(self.keys, s_free_item);
    self.logged = zhashx_new();
    zhashx_set_destructor(self.logged, s_free_item);
    if (!handler || zsock_bind(handler, "inproc://zeromq.zap.01") != 0) {
        zsock_signal(pipe, 1);
        goto out_destroy;
    }
    s_auth_refresh(&self);
    args->bound = true;
    zsock_signal(pipe, 0);
    poller = zpoller_new(pipe, handler, NULL);
    for (;;) {
        void *which = zpoller_wait(poller, -1);
        zmsg_t *req, *reply;
        char user_id[AD_KEYS_NAME_MAX + 16] = "";
        const char *code, *text;
        zframe_t *version, *id;

        if (which == pipe || !which) {
            char *cmd = which ? zstr_recv(pipe) : NULL;
            bool term = !which || !cmd || !strcmp(cmd, "$TERM");

            zstr_free(&cmd);
            if (term)
                break;
            continue;
        }
        req = zmsg_recv(handler);
        if (!req)
            break;
        version = zframe_dup(zmsg_first(req));
        id = zframe_dup(zmsg_next(req));
        code = s_auth_decide(&self, req, user_id, sizeof(user_id), &text);
        reply = zmsg_new();
        zmsg_append(reply, &version);
        zmsg_append(reply, &id);
        zmsg_addstr(reply, code);
        zmsg_addstr(reply, text);
        zmsg_addstr(reply, user_id);
        zmsg_addmem(reply, NULL, 0);
        zmsg_send(&reply, handler);
        zmsg_destroy(&req);
    }
    zpoller_destroy(&poller);
out_destroy:
    zsock_destroy(&handler);
    zhashx_destroy(&self.keys);
    zhashx_destroy(&self.logged);
    free(self.dir);
}

zactor_t *
ad_keys_auth_new(const char *keys_dir, ad_err_t *err)
{
    s_auth_args_t args = {0};
    char path[PATH_MAX];
    zactor_t *auth;

    snprintf(path, sizeof(path), "%s/server.cert_secret", keys_dir);
    if (!s_exists(path)) {
        ad_err_set(err, -ENOENT, "no CURVE server key at %s (create the keys first)", path);
        return NULL;
    }
    /* The actor frees its copy of the folder's name; zactor_new() returns once it signalled. */
    args.dir = ad_strdup(keys_dir);
    auth = zactor_new(s_auth_actor, &args);
    if (!auth || !args.bound) {
        zactor_destroy(&auth);
        ad_err_set(err, -EADDRINUSE, "cannot start the CURVE authenticator (is another ZAP "
                   "handler running in this process?)");
        return NULL;
    }
    return auth;
}
