/* TensorBoard event files, written by hand: TFRecord framing (length,
 * masked CRC32C of the length, data, masked CRC32C of the data) around
 * Event protobufs -- file_version first, then Summary scalars (simple_value)
 * and SessionLog START markers.  No dependency; TensorBoard's own reader
 * (EventAccumulator) reads them.
 *
 *     nb_tb *tb = nb_tb_open("runs/x/tb/train");   // the folder must exist
 *     nb_tb_scalar(tb, "epoch_loss", step, 0.43);
 *     nb_tb_close(tb);                              // 0, or -1 on a write error
 */
#ifndef NB_TENSORBOARD_H
#define NB_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct nb_tb nb_tb;

/* A new events.out.tfevents.* file in dir (which must exist), its first
 * event file_version "brain.Event:2" written.  NULL with errno set. */
nb_tb *nb_tb_open(const char *dir);
/* One scalar (stored as float32, TensorBoard's simple_value) at a step.
 * 0, or -1 (a tag over 200 bytes, or a write error). */
int nb_tb_scalar(nb_tb *tb, const char *tag, int64_t step, double value);
/* A SessionLog START at step: TensorBoard drops the points at steps >= step
 * written before it (a resumed run's repeated steps).  0 or -1. */
int nb_tb_restart(nb_tb *tb, int64_t step);
/* Push what is buffered to the file; 0, or -1 if any write failed so far. */
int nb_tb_flush(nb_tb *tb);
/* Flush, close and free (NULL is fine); 0, or -1 if any write failed. */
int nb_tb_close(nb_tb *tb);
/* The file's path. */
const char *nb_tb_path(const nb_tb *tb);

/* CRC32C (Castagnoli, reflected 0x82F63B78) of n bytes, continuing crc (0
 * to start), and TFRecord's mask of it. */
uint32_t nb_crc32c(uint32_t crc, const void *data, size_t n);
uint32_t nb_crc32c_mask(uint32_t crc);

#endif
