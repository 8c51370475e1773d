(** The 15 indicators of docs/design.md §3, described as data for the server.

    Parameters are carried as floats; integer parameters must be integral and
    inside TA-Lib's range, otherwise [Invalid_argument] names the indicator,
    the parameter and the value. *)

type spec = {
  name : string;  (** "sma", "ema", ... the 15 DESIGN names *)
  inputs : string list;
      (** series in argument order, a subset of high, low, close, volume *)
  params : (string * float) list;  (** names and defaults in DESIGN order *)
  outputs : string list;  (** ["value"], or the names of a multi-output *)
  batch : float array array -> float array -> float array array;
      (** [batch inputs params]: inputs in [inputs] order, params in [params]
          order; returns the outputs in [outputs] order. Validates the
          number of inputs and params, the params, lengths and finiteness. *)
  batch_trusted : float array array -> float array -> float array array;
      (** [batch] without the finiteness scan of the inputs ({!Batch.Trusted}):
          for a caller that checked every input value is finite. *)
  stream : float array -> Stream.t;  (** [stream params]: validates params *)
  lookback : float array -> int;
      (** leading nan count for validated params (TA-Lib's lookback) *)
}

val all : spec list
(** In DESIGN order: sma ema wma rsi macd bollinger atr stoch willr cci adx mfi
    obv roc mom. *)

val find : string -> spec option
