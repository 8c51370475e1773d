(* The Tandem indicator server: serves the protocol of docs/protocol.md on
   stdin/stdout until end of input (exit 0) or a corrupt frame (exit 2). *)

let () =
  (* Frames are read from and written to the raw descriptors 0 and 1. *)
  let reader = Wire.reader 0 and state = Server.create () and out = Wire.sink 1 in
  let rec loop () =
    match Wire.read_frame reader with
    | None -> Wire.flush out
    | Some frame ->
      let kind, body = Server.handle state frame in
      (* a reply waits only while the next request is at hand (Wire.send) *)
      Wire.send out ~more:(Wire.has_frame reader) ~kind ~id:frame.id body;
      loop ()
  in
  try loop () with
  | Wire.Corrupt msg ->
    (try Wire.flush out with Sys_error _ -> ());  (* the replies before it still count *)
    prerr_endline ("tandem_ocaml: corrupt frame, exiting: " ^ msg);
    exit 2
  | Sys_error msg ->
    prerr_endline ("tandem_ocaml: I/O error, exiting: " ^ msg);
    exit 3
