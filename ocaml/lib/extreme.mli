(** Sliding-window maximum and minimum (monotonic deques).

    Used by the STOCH and WILLR streams ({!Batch} runs the same idea over
    whole arrays). TA-Lib rescans the window when its extreme leaves
    it; the extreme {e value} is the same either way (a max/min of the same
    doubles), so the outputs are identical while every push costs amortised
    O(1) instead of O(period). *)

type t

val create_max : int -> t
(** [create_max p]: maximum over the last [p] pushed values ([p >= 1]). *)

val create_min : int -> t
(** [create_min p]: minimum over the last [p] pushed values. *)

val push : t -> float -> unit
(** Push the next value (the window then ends on it). *)

val current : t -> float
(** The extreme of the window (the last [p] pushes, fewer at the start).
    Undefined before the first push. *)
