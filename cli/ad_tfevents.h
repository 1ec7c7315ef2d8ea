/* ad_tfevents.h - TensorBoard event files: TFRecord framing and Event protobufs, by hand */
#ifndef AD_TFEVENTS_H
#define AD_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"

/*
 * An event file as TensorBoard reads it (events.out.tfevents.TIME.HOST): a
 * sequence of TFRecords (uint64 length, masked CRC32C of the length, the
 * bytes, masked CRC32C of the bytes), each an Event protobuf; the first holds
 * file_version "brain.Event:2", the others wall_time, step and a Summary of
 * one Value {tag, simple_value}.  No TensorFlow and no protobuf library: the
 * few fields are encoded here.
 */
typedef struct ad_tfevents ad_tfevents_t;

/*
 * Create dir (one level) if need be and a new event file in it, written with
 * its file_version record.  Returns 0 with *out (close it with
 * ad_tfevents_close()), or a negative errno with err naming the path.
 */
int ad_tfevents_open(const char *dir, double wall_time, ad_tfevents_t **out, ad_err_t *err);

/* The file's path, borrowed until close. */
const char *ad_tfevents_path(const ad_tfevents_t *self);

/* Append one scalar: tag's value at step, stamped wall_time (unix s).  Returns 0 or -errno. */
int ad_tfevents_scalar(ad_tfevents_t *self, double wall_time, int64_t step, const char *tag,
                       float value);

/*
 * Flush and close the file; NULL-safe, sets *self_p NULL.  Returns 0, or
 * -errno when a write failed at any time (err says which file).
 */
int ad_tfevents_close(ad_tfevents_t **self_p, ad_err_t *err);

/* CRC-32C (Castagnoli) of n bytes, and the masked form TFRecord stores. */
uint32_t ad_tfevents_crc32c(const void *data, size_t n);
uint32_t ad_tfevents_mask(uint32_t crc);

#endif
