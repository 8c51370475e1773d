(* The Tandem indicator server: serves the protocol of docs/protocol.md on
   stdin/stdout until end of input (exit 0) or a corrupt frame (exit 2). *)

let () =
  (* Frames are read from and written to the raw descriptors 0 and 1. *)
  let reader = Wire.reader 0 and state = Server.create () in
  let rec loop () =
    match Wire.read_frame reader with
    | None -> ()
    | Some frame ->
      let kind, body = Server.handle state frame in
      Wire.write_frame 1 ~kind ~id:frame.id body;
      loop ()
  in
  try loop () with
  | Wire.Corrupt msg ->
    prerr_endline ("tandem_ocaml: corrupt frame, exiting: " ^ msg);
    exit 2
  | Sys_error msg ->
    prerr_endline ("tandem_ocaml: I/O error, exiting: " ^ msg);
    exit 3
