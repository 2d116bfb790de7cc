/* nb_safetensors.h — checkpoints in the safetensors format (Hugging Face), readable by PyTorch.
 *
 * Format
 *   8-byte little-endian header length N, then N bytes of UTF-8 JSON starting with '{' and
 *   space-padded to a multiple of 8, then the tensor data: packed, row-major, little-endian.
 *   Each JSON entry is  "name": {"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]}  with
 *   offsets relative to the data start; "__metadata__" optionally maps strings to strings.
 *   dtypes: F32, F64, I32, I64, BOOL, F16, BF16 (nabla's NB_F16, NB_BF16) read and written as
 *   they are (a BF16 entry loads as an NB_BF16 tensor; nb_to_dtype or nb_module_load_state_dict
 *   converts it). Others (U8, I8, ...) are rejected as unsupported.
 *
 * Errors
 *   Both functions return NB_OK or an error status and leave a one-line message starting with
 *   the path in nb_last_error() ("ckpt.safetensors: header length 9223372036854775808 exceeds
 *   100000000"). Outside data never aborts or crashes: every malformed file is rejected.
 *   NULL arguments are misuse (the misuse handler). Running out of memory for tensor storage
 *   goes through the library's allocation choke point (the misuse handler), as everywhere.
 */
#ifndef NB_SAFETENSORS_H
#define NB_SAFETENSORS_H

#include "nb_state_dict.h"
#include "nb_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest JSON header accepted by the loader (and produced by the writer), as in safetensors. */
#define NB_SAFETENSORS_MAX_HEADER 100000000

/* Writes sd to `path`: entries in sd's order (data packed in that order), metadata (if any)
 * as "__metadata__" first. Tensors may be any view (transposed, sliced, expanded): their
 * values are written in logical row-major order. The header JSON is compact (no spaces) with
 * keys "dtype", "shape", "data_offsets" in that order, like the reference writer.
 * The save is ATOMIC: data goes to a new file "path.tmpPID.XXXXXX" in the same directory
 * (created with mode 0666 & ~umask), which is flushed, fsync'ed and renamed over `path`; then
 * the directory is fsync'ed. On any failure the temporary file is removed and an existing
 * `path` is left byte-identical. A saver killed mid-save (SIGKILL, OOM killer) leaves its
 * temporary file; the next save to `path` removes those whose process PID no longer exists.
 * Returns NB_OK; NB_ERR_IO (message: path, the failing step, strerror) when the file cannot
 * be created, written (ENOSPC, EFBIG, ...) or renamed; NB_ERR_INVALID when sd cannot be
 * represented (a name "__metadata__", a name or metadata string that is not valid UTF-8, a
 * header over NB_SAFETENSORS_MAX_HEADER); NB_ERR_NOMEM when the header cannot be built. */
NB_API nb_status nb_safetensors_save(const nb_state_dict *sd, const char *path);

/* Reads `path` into a NEW state dict (*out; free with nb_state_dict_free) holding new
 * contiguous tensors, in the order of the file's header, and the "__metadata__" pairs.
 * The dict holds the only reference to each tensor (none is registered in an open scope).
 * On failure *out is set to NULL and nothing leaks.
 * Returns NB_OK; NB_ERR_IO when the file cannot be opened or read (or is not a regular file);
 * NB_ERR_FORMAT for any malformed content: a file shorter than 8 bytes; a header length over
 * NB_SAFETENSORS_MAX_HEADER or past the end of the file; a header that does not start with
 * '{', is not valid UTF-8 or not valid JSON; duplicate names; an entry that is not an object
 * or lacks/misspells dtype, shape or data_offsets; an unknown or unsupported dtype; a shape
 * that is not a list of at most NB_MAX_DIMS non-negative integers or has too many elements;
 * data_offsets that are not two integers begin <= end, or (sorted by begin) do not tile the
 * data section from 0 without gaps or overlaps; end - begin != numel * dtype size; a data
 * section shorter or longer (trailing bytes) than the header describes; "__metadata__" that
 * is not an object of strings; a BOOL byte other than 0 or 1; a header (or checksum list) so
 * dense in JSON values that parsing it would take more than 8 times its size + 64 MiB (e.g.
 * "[0,0,0,...]": a legitimate header needs ~15 bytes per byte, far inside that bound up to
 * ~100,000 tensors), rejected before parsing. NB_ERR_NOMEM when the header buffer cannot be
 * allocated or the JSON parser runs out of memory ("out of memory parsing the N-byte header"). */
NB_API nb_status nb_safetensors_load(const char *path, nb_state_dict **out);

#ifdef __cplusplus
}
#endif
#endif /* NB_SAFETENSORS_H */
