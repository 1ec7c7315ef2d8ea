/* ad_hwloc.h - hardware profile of this machine, or of a given topology, read with hwloc */
#ifndef AD_HWLOC_H
#define AD_HWLOC_H

#include <hwloc.h>

#include "autodist/ad_error.h"
#include "autodist/ad_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read this machine's topology with hwloc (I/O devices included, for GPUs
 * and network interfaces) and build its profile, without benchmarks.
 * Returns 0 and sets *out (owned by the caller, ad_profile_free()), or
 * AD_EDEVICE with err set when hwloc cannot read the topology.
 */
int ad_hwloc_detect(ad_profile_t **out, ad_err_t *err);

/*
 * Build the profile of a loaded topology (this machine's, a synthetic one
 * or an XML export), which stays the caller's.  The host name, memory size
 * fallback and CPU frequency still come from this machine (sysfs, procfs),
 * as for ad_hwloc_detect().  Returns 0 and sets *out (owned by the caller).
 */
int ad_hwloc_detect_from(hwloc_topology_t topo, ad_profile_t **out, ad_err_t *err);

/*
 * Load the topology of an hwloc XML file (as `lstopo foo.xml` writes, I/O
 * devices kept) and build its profile.  Returns 0 and sets *out, or
 * AD_EDEVICE with err naming the file.
 */
int ad_hwloc_detect_xml(const char *path, ad_profile_t **out, ad_err_t *err);

/*
 * Same from an hwloc synthetic description such as
 * "pack:2 numa:2 core:16 pu:2" (no I/O devices).  Returns 0 and sets *out,
 * or AD_EDEVICE with err.
 */
int ad_hwloc_detect_synthetic(const char *description, ad_profile_t **out, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
