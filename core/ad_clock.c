/* ad_clock.c - the one clock: seconds on the monotonic clock, for deadlines, rates and timings */
#include "autodist/ad_clock.h"

#include <czmq.h>

double
ad_clock_now(void)
{
    return (double)zclock_usecs() * 1e-6;
}
