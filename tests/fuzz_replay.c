/* fuzz_replay.c - a fuzz target without libFuzzer: a corpus replayed, then seeded mutations */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Set by the target when its input was accepted whole (a corpus never accepted tests little). */
extern int fuzz_accepted;

/* Largest input replayed or made; corpus files are small. */
#define S_MAX (256 * 1024)

typedef struct {
    uint8_t *data; /* the file's bytes */
    size_t size;   /* their number */
} s_input_t;

static s_input_t *s_inputs;
static size_t s_n, s_cap;

static uint64_t
s_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int
s_add_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    s_input_t in;

    if (!fp) {
        perror(path);
        return -1;
    }
    in.data = malloc(S_MAX);
    in.size = fread(in.data, 1, S_MAX, fp);
    fclose(fp);
    if (s_n == s_cap) {
        s_cap = s_cap ? 2 * s_cap : 64;
        s_inputs = realloc(s_inputs, s_cap * sizeof(*s_inputs));
    }
    s_inputs[s_n++] = in;
    return 0;
}

/* A file, or every regular file of a folder. */
static int
s_add(const char *path)
{
    struct stat st;
    struct dirent *e;
    char file[4096];
    DIR *dir;

    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return s_add_file(path);
    dir = opendir(path);
    if (!dir) {
        perror(path);
        return -1;
    }
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        if (s_add_file(file)) {
            closedir(dir);
            return -1;
        }
    }
    closedir(dir);
    return 0;
}

/* One mutation of a random corpus input into buf: flips, cuts, inserted runs, splices. */
static size_t
s_mutate(uint64_t *st, uint8_t *buf)
{
    const s_input_t *a = &s_inputs[s_next(st) % s_n], *b = &s_inputs[s_next(st) % s_n];
    size_t n = a->size, k;
    int ops = 1 + (int)(s_next(st) % 4);

    memcpy(buf, a->data, n);
    for (int o = 0; o < ops; o++) {
        switch (s_next(st) % 6) {
        case 0: /* a random byte */
        case 1:
            if (n)
                buf[s_next(st) % n] = (uint8_t)s_next(st);
            break;
        case 2: /* an interesting byte */
            if (n)
                buf[s_next(st) % n] = (const uint8_t[]){0,   0xff, '"', '{', '}',
                                                        ':', '\n', '-', '9', 0x80}[s_next(st) % 10];
            break;
        case 3: /* cut */
            if (n)
                n = s_next(st) % n;
            break;
        case 4: /* duplicate a run */
            if (n && n < S_MAX / 2) {
                size_t at = s_next(st) % n, len = 1 + s_next(st) % (n - at);

                memmove(buf + at + len, buf + at, n - at);
                n += len;
            }
            break;
        case 5: /* splice the tail of another input */
            k = b->size ? s_next(st) % b->size : 0;
            if (n)
                n = s_next(st) % n;
            if (n + b->size - k <= S_MAX) {
                memcpy(buf + n, b->data + k, b->size - k);
                n += b->size - k;
            }
            break;
        }
    }
    return n;
}

int
main(int argc, char **argv)
{
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    long rounds = 0;
    int first = 1, accepted = 0;
    uint8_t *buf;

    if (argc > 2 && !strcmp(argv[1], "--rounds")) {
        rounds = atol(argv[2]);
        first = 3;
    }
    for (int i = first; i < argc; i++)
        if (s_add(argv[i]))
            return 1;
    if (s_n == 0) {
        fprintf(stderr, "usage: %s [--rounds N] FILE|DIR...\n", argv[0]);
        return 1;
    }
    for (size_t i = 0; i < s_n; i++) {
        fuzz_accepted = 0;
        LLVMFuzzerTestOneInput(s_inputs[i].data, s_inputs[i].size);
        accepted += fuzz_accepted;
    }
    printf("fuzz: %zu corpus inputs replayed, %d accepted whole\n", s_n, accepted);
    if (!accepted) {
        fprintf(stderr, "fuzz: no corpus input is accepted: mutations would test errors only\n");
        return 1;
    }
    buf = malloc(2 * S_MAX);
    for (long r = 0; r < rounds; r++) {
        size_t n = s_mutate(&state, buf);

        LLVMFuzzerTestOneInput(buf, n);
    }
    if (rounds)
        printf("fuzz: %ld mutated inputs, no crash\n", rounds);
    free(buf);
    for (size_t i = 0; i < s_n; i++)
        free(s_inputs[i].data);
    free(s_inputs);
    return 0;
}
