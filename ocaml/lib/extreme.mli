(** Sliding-window maximum and minimum (monotonic deques).

    Used by the STOCH, WILLR, HIGHEST and LOWEST streams ({!Batch} runs the same idea over
    whole arrays). TA-Lib rescans the window when its extreme leaves
    it; the extreme {e value} is the same either way (a max/min of the same
    doubles), so the outputs are identical while every push costs amortised
    O(1) instead of O(period). *)

type t

val create_max : ?keep_ties:bool -> int -> t
(** [create_max p]: maximum over the last [p] pushed values ([p >= 1]). With
    [~keep_ties:true] the front is the {e first} index of the maximum (a later
    equal value does not displace it), the one TA-Lib's rescan finds. *)

val create_min : ?keep_ties:bool -> int -> t
(** [create_min p]: minimum over the last [p] pushed values; [keep_ties] as
    for {!create_max}. *)

val push : t -> float -> unit
(** Push the next value (the window then ends on it). *)

val current : t -> float
(** The extreme of the window (the last [p] pushes, fewer at the start).
    Undefined before the first push. *)

val current_index : t -> int
(** The push number (from 0) of {!current}. *)
