/* Bulk moves between IEEE-754 little-endian bytes (the wire format) and OCaml
   float arrays. OCaml 4.13 has no way to reinterpret 8 bytes as a float without
   a function call per value; these do a whole array with one memcpy (or a
   byte-swapping loop on big-endian hosts). Bounds are checked by the caller. */

#include <stdint.h>
#include <string.h>
#include <caml/mlvalues.h>

static int host_is_little_endian(void)
{
  const uint16_t one = 1;
  return *(const uint8_t *) &one == 1;
}

static void copy_le(unsigned char *dst, const unsigned char *src, size_t count)
{
  if (host_is_little_endian()) {
    memcpy(dst, src, count * 8);
  } else {
    for (size_t i = 0; i < count; i++)
      for (int b = 0; b < 8; b++) dst[8 * i + b] = src[8 * i + 7 - b];
  }
}

/* floats_of_bytes bytes offset floats count: copies and, in the same pass,
   returns the index of the first non-finite value (all exponent bits set),
   or -1. */
value tandem_floats_of_bytes(value bytes, value offset, value floats, value count)
{
  const unsigned char *src = Bytes_val(bytes) + Long_val(offset);
  uint64_t *dst = (uint64_t *) floats;
  const uint64_t exponent = UINT64_C(0x7ff0000000000000);
  long n = Long_val(count), first_bad = -1;
  copy_le((unsigned char *) dst, src, n);
  for (long i = 0; i < n; i++) {
    if ((dst[i] & exponent) == exponent) { first_bad = i; break; }
  }
  return Val_long(first_bad);
}

/* bytes_of_floats floats bytes offset count */
value tandem_bytes_of_floats(value floats, value bytes, value offset, value count)
{
  copy_le(Bytes_val(bytes) + Long_val(offset), (const unsigned char *) floats, Long_val(count));
  return Val_unit;
}

/* Raw reads and writes on a file descriptor, straight into / out of a bytes
   buffer: the stdlib channels (and Unix) go through a 64 KiB intermediate
   buffer, which costs a copy and many system calls on multi-megabyte frames.
   The server is single-threaded, so the runtime lock is kept (the buffer
   cannot move during the call). */

#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/uio.h>
#include <string.h>
#include <caml/alloc.h>
#include <caml/fail.h>

static void fail_with_errno(const char *what)
{
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  caml_raise_sys_error(caml_copy_string(msg));
}

value tandem_read(value fd, value buf, value offset, value len)
{
  ssize_t n;
  do {
    n = read(Int_val(fd), Bytes_val(buf) + Long_val(offset), Long_val(len));
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail_with_errno("read");
  return Val_long(n);
}

/* read_into_floats fd floats byte_offset len: one read(2) into a float
   array's memory (little-endian hosts only: the wire bytes are the floats). */
value tandem_read_floats(value fd, value floats, value offset, value len)
{
  ssize_t n;
  do {
    n = read(Int_val(fd), (char *) floats + Long_val(offset), Long_val(len));
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail_with_errno("read");
  return Val_long(n);
}

/* copy_into_floats bytes offset floats byte_offset len: raw byte copy. */
value tandem_copy_into_floats(value bytes, value offset, value floats, value byte_offset,
                              value len)
{
  memcpy((char *) floats + Long_val(byte_offset), Bytes_val(bytes) + Long_val(offset),
         Long_val(len));
  return Val_unit;
}

/* first_non_finite floats from upto: index of the first NaN or infinity among
   floats.(from) .. floats.(upto - 1), or -1. */
value tandem_first_non_finite(value floats, value from, value upto)
{
  const uint64_t *x = (const uint64_t *) floats;
  const uint64_t exponent = UINT64_C(0x7ff0000000000000);
  for (long i = Long_val(from); i < Long_val(upto); i++)
    if ((x[i] & exponent) == exponent) return Val_long(i);
  return Val_long(-1);
}

/* writev_fd fd blocks offsets lengths: writes, in order, lengths.(i) bytes of
   each block (a bytes or a float array: both keep their data at the block's
   address) from offsets.(i), retrying until everything is written. */
value tandem_writev(value fd, value blocks, value offsets, value lengths)
{
  struct iovec iov[64];
  mlsize_t count = Wosize_val(blocks), next = 0;
  while (next < count) {
    int n = 0;
    for (; n < 64 && next + n < count; n++) {
      iov[n].iov_base = (char *) Field(blocks, next + n) + Long_val(Field(offsets, next + n));
      iov[n].iov_len = Long_val(Field(lengths, next + n));
    }
    int first = 0;
    while (first < n) {
      ssize_t w = writev(Int_val(fd), iov + first, n - first);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail_with_errno("write");
      }
      while (first < n && (size_t) w >= iov[first].iov_len) w -= iov[first++].iov_len;
      if (first < n) {
        iov[first].iov_base = (char *) iov[first].iov_base + w;
        iov[first].iov_len -= w;
      }
    }
    next += n;
  }
  return Val_unit;
}
