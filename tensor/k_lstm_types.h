/* k_lstm_types.h — includes k_lstm_impl.h once per element type (float, double) for the current
 * kernel variant NB__KV_AVX2 (nb__kv.h). No include guard. */
#define NB_T float
#define NB_SFX f32
#include "k_lstm_impl.h"
#undef NB_T
#undef NB_SFX
#define NB_T double
#define NB_SFX f64
#include "k_lstm_impl.h"
#undef NB_T
#undef NB_SFX
