/* fuzz_proto.c - fuzz target for the wire protocol's parser: any bytes as a message's frames */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_proto.h"

/* Set when the last input parsed as a valid message (fuzz_replay.c checks the corpus has some). */
int fuzz_accepted;

/* A frame separator no valid type or JSON frame holds (0xff is never UTF-8). */
#define S_SEP 0xff
/* Frames counted beyond this are still counted, as ad_proto_recv() counts them. */
#define S_KEEP 3

/*
 * The first byte says the socket ('R': a ROUTER, whose first frame is the
 * sender's identity; anything else: a DEALER or PULL), the rest is the
 * message's frames separated by 0xff bytes.  Parsing must succeed with a
 * payload that validates again once re-encoded, or fail with a message that
 * names the problem; never crash, leak or read out of bounds.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ad_proto_frame_t frames[S_KEEP];
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    const uint8_t *p, *end = data + size, *sep;
    size_t n = 0;
    bool router;
    int rc;

    fuzz_accepted = 0;
    if (size == 0)
        return 0;
    router = data[0] == 'R';
    for (p = data + 1;; p = sep + 1) {
        sep = memchr(p, S_SEP, (size_t)(end - p));
        if (n < S_KEEP) {
            frames[n].data = p;
            frames[n].size = (size_t)((sep ? sep : end) - p);
        }
        n++;
        if (!sep)
            break;
    }
    rc = ad_proto_parse_frames(frames, n, router, &msg, &err);
    if (rc == 0) {
        char *text = json_dumps(msg.payload, JSON_COMPACT);
        json_t *again = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;

        /* What was accepted once is accepted again: a sender could forward it. */
        if (!json_is_object(msg.payload) || msg.type == AD_PROTO_UNKNOWN || !again ||
            ad_proto_validate(msg.type, again, NULL) != 0 || router != (msg.identity != NULL))
            abort();
        json_decref(again);
        free(text);
        fuzz_accepted = 1;
    } else if (rc != AD_EPEER || !err.msg[0] || msg.payload) {
        abort(); /* every refusal is AD_EPEER and says why */
    }
    ad_proto_msg_clear(&msg);
    return 0;
}
