(** Every indicator, described as data for the server and the tests: the
    OCaml side of the registry of engine/indicators/registry.py (same names,
    inputs, parameters and outputs; the Python tests compare the two through
    the server's handshake).

    Parameters are carried as floats; integer parameters must be integral and
    inside TA-Lib's range, otherwise [Invalid_argument] names the indicator,
    the parameter and the value. *)

(** The kind of a parameter: [Int lo], an integer from [lo] to
    {!Batch.max_period} (TA-Lib's range), or [Real], a finite real of
    magnitude at most {!real_max}. *)
type kind = Int of int | Real

type param = { pname : string; default : float; kind : kind }
(** One parameter: its name, its default and its kind. *)

val real_max : float
(** TA-Lib's bound of a real parameter (TA_REAL_MAX, 3e37). *)

type spec = {
  name : string;  (** "sma", "ema", ...: the Python registry's names *)
  inputs : string list;
      (** series in argument order, a subset of high, low, close, volume *)
  params : param list;  (** in the Python registry's order *)
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
(** Every indicator, in the Python registry's order. *)

val find : string -> spec option

val defaults : spec -> float array
(** The default parameter values, in [params] order. *)
