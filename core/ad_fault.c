/* ad_fault.c - fault switch: make the n-th hit of a named point fail, so tests walk every exit */
#include "autodist/ad_fault.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One armed point: its name and the hits left before the failing one. */
typedef struct {
    char name[AD_FAULT_NAME_MAX]; /* empty when the slot is free */
    int left;                     /* hits still to come; the hit that brings it to 0 fails */
} s_point_t;

static s_point_t s_points[AD_FAULT_POINTS_MAX];
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
/* Armed slots; read without the lock so unarmed builds pay one load per hit. */
static atomic_int s_armed;

static s_point_t *
s_find(const char *point)
{
    for (int i = 0; i < AD_FAULT_POINTS_MAX; i++)
        if (s_points[i].name[0] && !strcmp(s_points[i].name, point))
            return &s_points[i];
    return NULL;
}

static void
s_free_slot(s_point_t *p)
{
    p->name[0] = '\0';
    p->left = 0;
    atomic_fetch_sub(&s_armed, 1);
}

void
ad_fault_arm(const char *point, int n)
{
    s_point_t *p;

    assert(point && strlen(point) < AD_FAULT_NAME_MAX);
    pthread_mutex_lock(&s_lock);
    p = s_find(point);
    if (n <= 0) {
        if (p)
            s_free_slot(p);
        pthread_mutex_unlock(&s_lock);
        return;
    }
    if (!p) {
        for (int i = 0; i < AD_FAULT_POINTS_MAX && !p; i++)
            if (!s_points[i].name[0])
                p = &s_points[i];
        assert(p && "more fault points armed than AD_FAULT_POINTS_MAX");
        strcpy(p->name, point);
        atomic_fetch_add(&s_armed, 1);
    }
    p->left = n;
    pthread_mutex_unlock(&s_lock);
}

bool
ad_fault_hit(const char *point)
{
    s_point_t *p;
    bool fail = false;

    if (atomic_load_explicit(&s_armed, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&s_lock);
    p = s_find(point);
    if (p && --p->left == 0) {
        fail = true;
        s_free_slot(p);
    }
    pthread_mutex_unlock(&s_lock);
    return fail;
}

bool
ad_fault_armed(const char *point)
{
    bool armed;

    if (atomic_load_explicit(&s_armed, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&s_lock);
    armed = s_find(point) != NULL;
    pthread_mutex_unlock(&s_lock);
    return armed;
}

void
ad_fault_reset(void)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < AD_FAULT_POINTS_MAX; i++)
        if (s_points[i].name[0])
            s_free_slot(&s_points[i]);
    pthread_mutex_unlock(&s_lock);
}

int
ad_fault_arm_env(ad_err_t *err)
{
    const char *env = getenv(AD_FAULT_ENV);
    char names[AD_FAULT_POINTS_MAX][AD_FAULT_NAME_MAX];
    int counts[AD_FAULT_POINTS_MAX];
    int n = 0;

    if (!env || !*env)
        return 0;
    /* Parse every entry before arming any, so a bad list arms nothing. */
    for (const char *s = env; *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *colon = memchr(s, ':', len);
        size_t name_len = colon ? (size_t)(colon - s) : 0;
        char *stop;
        long count;

        if (!colon || name_len == 0 || name_len >= AD_FAULT_NAME_MAX || n == AD_FAULT_POINTS_MAX)
            return ad_err_set(err, AD_EINVAL, "%s: bad entry \"%.*s\": expected point:n",
                              AD_FAULT_ENV, (int)len, s);
        errno = 0;
        count = strtol(colon + 1, &stop, 10);
        if (errno || stop != s + len || stop == colon + 1 || count < 1 || count > INT_MAX)
            return ad_err_set(err, AD_EINVAL,
                              "%s: bad entry \"%.*s\": n must be a positive integer", AD_FAULT_ENV,
                              (int)len, s);
        memcpy(names[n], s, name_len);
        names[n][name_len] = '\0';
        counts[n++] = (int)count;
        s += len + (end ? 1 : 0);
    }
    for (int i = 0; i < n; i++)
        ad_fault_arm(names[i], counts[i]);
    return 0;
}
