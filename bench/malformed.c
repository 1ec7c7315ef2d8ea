/* malformed.c - autodist-malformed: bad messages of every kind against one coordinator, its RSS */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "autodist/ad_error.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"

/* Size of the filler frames of the many-frame and big-payload kinds. */
#define S_FILL (64 * 1024)
/* Kinds of bad message, sent in turn. */
#define S_KINDS 8

/* Send the frames (NULL-terminated (data, size) pairs) as one message on sock. */
static void
s_send(zsock_t *sock, int n, const void *const *data, const size_t *size)
{
    void *h = zsock_resolve(sock);

    for (int i = 0; i < n; i++) {
        zmq_msg_t m;

        zmq_msg_init_size(&m, size[i]);
        memcpy(zmq_msg_data(&m), data[i], size[i]);
        zmq_msg_send(&m, h, i + 1 < n ? ZMQ_SNDMORE : 0);
    }
}

/* Bad message number i on agent or client: many frames, bad types, bad JSON, bad fields. */
static void
s_bad(zsock_t *agent, zsock_t *client, long i, const char *fill)
{
    const void *d[40];
    size_t s[40];
    zsock_t *to = i % 2 ? client : agent;
    int n = 0;

    switch (i % S_KINDS) {
    case 0: /* 31 frames */
    case 1:
        d[n] = "HEARTBEAT", s[n++] = 9;
        for (int k = 0; k < 30; k++)
            d[n] = fill, s[n++] = S_FILL;
        break;
    case 2: /* one frame */
        d[n] = "NODES", s[n++] = 5;
        break;
    case 3: /* unknown type */
        d[n] = "HELLO\xff", s[n++] = 6, d[n] = "{}", s[n++] = 2;
        break;
    case 4: /* not JSON, 64 KiB of it */
        d[n] = "STATUS", s[n++] = 6, d[n] = fill, s[n++] = S_FILL;
        break;
    case 5: /* a HELLO whose address is a shell command */
        d[n] = "HELLO", s[n++] = 5;
        d[n] = "{\"protocol\":1,\"version\":\"1\",\"pid\":1,\"profile\":{},\"hostname\":\"n1\","
               "\"address\":\"127.$(touch${IFS}/tmp/x)\"}";
        s[n] = strlen(d[n]), n++;
        break;
    case 6: /* a type for the other side */
        d[n] = "WELCOME", s[n++] = 7, d[n] = "{\"node\":1,\"heartbeat_ms\":1000}", s[n++] = 30;
        break;
    case 7: /* duplicate keys */
        d[n] = "CANCEL", s[n++] = 6, d[n] = "{\"job\":1,\"job\":2}", s[n++] = 17;
        break;
    }
    s_send(to, n, d, s);
}

/* Read whatever the client socket was answered, so its queue never fills. */
static void
s_drain(zsock_t *client)
{
    while (zsock_events(client) & ZMQ_POLLIN) {
        zmsg_t *m = zmsg_recv(client);

        zmsg_destroy(&m);
    }
}

int
main(int argc, char **argv)
{
    static const struct option longs[] = {{"client", required_argument, NULL, 'c'},
                                          {"agents", required_argument, NULL, 'a'},
                                          {"pid", required_argument, NULL, 'p'},
                                          {"count", required_argument, NULL, 'n'},
                                          {NULL, 0, NULL, 0}};
    const char *client_ep = NULL, *agents_ep = NULL;
    long count = 10000;
    pid_t pid = 0;
    char *fill = malloc(S_FILL);
    double before, peak = 0, after, rss;
    json_t *reply = NULL;
    ad_err_t err = {0};
    zsock_t *agent, *client;
    int64_t v;
    int c;

    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'c')
            client_ep = optarg;
        else if (c == 'a')
            agents_ep = optarg;
        else if (c == 'p' && !ad_opt_int("--pid", optarg, 1, INT32_MAX, 0, &v, &err))
            pid = (pid_t)v;
        else if (c == 'n' && !ad_opt_int("--count", optarg, 1, 100000000, 0, &v, &err))
            count = (long)v;
        else
            return 2;
    }
    if (!client_ep || !agents_ep || !pid) {
        fprintf(stderr, "usage: autodist-malformed --client EP --agents EP --pid PID "
                        "[--count N]\n");
        return 2;
    }
    memset(fill, '{', S_FILL);
    agent = zsock_new_dealer(agents_ep);
    client = zsock_new_dealer(client_ep);
    zsock_set_sndhwm(agent, 100);
    zsock_set_sndhwm(client, 100);
    /* Warm up: a first round of every kind, then the baseline. */
    for (long i = 0; i < 2 * S_KINDS; i++)
        s_bad(agent, client, i, fill);
    if (ad_proto_request(client_ep, "NODES", NULL, 10000, &reply, &err))
        return fprintf(stderr, "coordinator: %s\n", err.msg), 1;
    json_decref(reply);
    before = ad_proc_rss_mib(pid);
    for (long i = 0; i < count; i++) {
        s_bad(agent, client, i, fill);
        s_drain(client);
        /* Every 500: wait for the coordinator to catch up, and sample its memory. */
        if (i % 500 == 499) {
            if (ad_proto_request(client_ep, "NODES", NULL, 30000, &reply, &err))
                return fprintf(stderr, "coordinator after %ld: %s\n", i + 1, err.msg), 1;
            json_decref(reply);
            rss = ad_proc_rss_mib(pid);
            peak = rss > peak ? rss : peak;
        }
    }
    if (ad_proto_request(client_ep, "NODES", NULL, 30000, &reply, &err))
        return fprintf(stderr, "coordinator at the end: %s\n", err.msg), 1;
    json_decref(reply);
    s_drain(client);
    after = ad_proc_rss_mib(pid);
    printf("{\"messages\":%ld,\"rss_before_mib\":%.1f,\"rss_peak_mib\":%.1f,"
           "\"rss_after_mib\":%.1f,\"answers_good_request\":true}\n",
           count, before, fmax(peak, after), after);
    zsock_destroy(&agent);
    zsock_destroy(&client);
    free(fill);
    return 0;
}
