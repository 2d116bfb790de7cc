/* k_pointwise_kv.h — includes k_pointwise_impl.h for the current NB_T / NB_PW_* once per kernel
 * variant (nb__kv.h): first the baseline (every function; the table loops as <loop>_T_kv0), then
 * the AVX2 copies of the table loops only (<loop>_T_kv1); undefines the parameters. No include
 * guard. */
#define NB__KV_AVX2 0
#include "k_pointwise_impl.h"
#undef NB__KV_AVX2
#ifdef NB__KV_HAVE_AVX2
#define NB__KV_AVX2 1
#include "k_pointwise_impl.h"
#undef NB__KV_AVX2
#endif
#undef NB_T
#undef NB_PW_NUM
#undef NB_PW_FLT
#undef NB_PW_BOOL
#undef NB_PW_F32
