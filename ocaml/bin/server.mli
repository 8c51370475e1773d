(** Request handling of the indicator server: the indicator catalog, batch
    computations and the table of open streams. *)

type t
(** Server state: the open streams and the next stream id. *)

val create : unit -> t

val handle : t -> Wire.frame -> int * Wire.Out.t
(** Serves one request frame: returns the reply kind and body. Semantic
    errors become error replies; raises [Wire.Corrupt] only for an unknown
    message kind. *)
