(** Streaming indicators: O(1) state per update (CCI: O(period), as TA-Lib).

    A stream fed a series bar by bar returns, at every bar, exactly the value
    {!Batch} returns at that index (same TA-Lib evaluation order, bit for
    bit), [nan] during the warm-up (the first [lookback] bars). Warm-up and
    seed rules are those documented in {!Batch}.

    Constructors validate their parameters like {!Batch} and raise
    [Invalid_argument]. {!update} raises [Invalid_argument] (naming the
    indicator and the input) for a non-finite value of an input the indicator
    uses, before touching the state, so the stream stays usable. *)

type t

val update : t -> high:float -> low:float -> close:float -> volume:float -> float array
(** The outputs after this bar, in DESIGN order (e.g. macd, signal, histogram);
    [nan] during warm-up. Inputs an indicator does not use are ignored. *)

val n_outputs : t -> int

val sma : int -> t
val ema : int -> t
val wma : int -> t
val rsi : int -> t

val macd : int -> int -> int -> t
(** [macd fast slow signal]; outputs macd, signal, histogram. *)

val bollinger : int -> float -> float -> t
(** [bollinger period nbdev_up nbdev_down]; outputs upper, middle, lower. *)

val atr : int -> t

val stoch : int -> int -> int -> t
(** [stoch fastk slowk slowd]; outputs k, d. Window extremes use monotonic
    deques (amortised O(1)); the values equal TA-Lib's rescans. *)

val willr : int -> t
val cci : int -> t
val adx : int -> t
val mfi : int -> t
val obv : unit -> t
val roc : int -> t
val mom : int -> t

val highest : int -> t
(** [highest period]: TA-Lib MAX of the highs, with TA-Lib's index tracking
    (the sign of a zero maximum) in amortised O(1) per update. *)

val lowest : int -> t
(** [lowest period]: TA-Lib MIN of the lows, as {!highest}. *)

val stddev : int -> float -> t
(** [stddev period nbdev]: TA-Lib STDDEV of the closes, as {!Batch.stddev}. *)
