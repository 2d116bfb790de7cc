/* nb__paste.h — token pasting after macro expansion, for the type-generic implementation files
 * (k_*_impl.h) that a kernel source includes once per element type with NB_T / NB_SFX defined:
 * NB__PASTE(nb__gemm_, NB_SFX) is nb__gemm_f32 when NB_SFX is f32. */
#ifndef NB__PASTE_H
#define NB__PASTE_H

#define NB__PASTE_(a, b) a##b
#define NB__PASTE(a, b) NB__PASTE_(a, b)
#define NB__PASTE3_(a, b, c) a##b##c
#define NB__PASTE3(a, b, c) NB__PASTE3_(a, b, c)
#define NB__PASTE4_(a, b, c, d) a##b##c##d
#define NB__PASTE4(a, b, c, d) NB__PASTE4_(a, b, c, d)

#endif /* NB__PASTE_H */
