/* fuzz_main.c - run a fuzz target without libFuzzer: given files, or seeded mutations */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int fuzz_opened;

static uint64_t
s_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A valid images+labels pair of 3 images of 2x2, to mutate; returns its size. */
static size_t
s_seed(uint8_t *buf)
{
    static const uint8_t img[] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static const uint8_t lab[] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
    size_t n = 1 + sizeof(img) + sizeof(lab);

    /* The first byte chooses the cut (1 + b * (n - 1) / 256): right after the images. */
    buf[0] = (uint8_t)((sizeof(img) * 256 + n - 2) / (n - 1));
    memcpy(buf + 1, img, sizeof(img));
    memcpy(buf + 1 + sizeof(img), lab, sizeof(lab));
    return n;
}

int
main(int argc, char **argv)
{
    uint8_t buf[256];
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    long rounds = argc > 1 && !strcmp(argv[1], "--rounds") && argc > 2 ? atol(argv[2]) : 0;

    if (rounds > 0) {
        /* The unmutated seed must open: else the mutations test nothing past the header. */
        if (LLVMFuzzerTestOneInput(buf, s_seed(buf)) != 0 || !fuzz_opened) {
            fprintf(stderr, "fuzz: the seed input does not open\n");
            return 1;
        }
        for (long r = 0; r < rounds; r++) {
            size_t n = s_seed(buf);
            int flips = 1 + (int)(s_next(&state) % 4);

            for (int f = 0; f < flips; f++)
                buf[s_next(&state) % n] = (uint8_t)s_next(&state);
            if (s_next(&state) % 8 == 0)
                n = s_next(&state) % n;
            LLVMFuzzerTestOneInput(buf, n);
        }
        printf("fuzz: %ld mutated inputs, no crash\n", rounds);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        size_t n;

        if (!fp) {
            perror(argv[i]);
            return 1;
        }
        n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
