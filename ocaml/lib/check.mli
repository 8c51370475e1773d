(** Argument validation shared by {!Batch}, {!Stream} and {!Registry}.

    Every failure raises [Invalid_argument msg] where [msg] starts with the
    indicator name and names the offending argument and its value, e.g.
    ["sma: period must be an integer in [1, 100000], got 0"]. *)

val fail : ('a, unit, string, 'b) format4 -> 'a
(** [fail fmt ...] raises [Invalid_argument] with the formatted message. *)

val period : string -> string -> lo:int -> hi:int -> int -> unit
(** [period fn name ~lo ~hi p] checks [lo <= p <= hi]. *)

val int_of_param : string -> string -> lo:int -> hi:int -> float -> int
(** [int_of_param fn name ~lo ~hi v]: an integer parameter carried as a float;
    it must be integral and in [lo, hi]. *)

val real : string -> string -> lo:float -> hi:float -> float -> unit
(** [real fn name ~lo ~hi v] checks that [v] is finite and in [lo, hi]. *)

val finite_array : string -> string -> float array -> unit
(** [finite_array fn name a] checks every element; the message names [name[i]]. *)

val finite_value : string -> string -> float -> unit
(** [finite_value fn name v] checks one streamed value. *)

val same_length : string -> (string * float array) list -> unit
(** [same_length fn named] checks that all arrays have the first one's length. *)
