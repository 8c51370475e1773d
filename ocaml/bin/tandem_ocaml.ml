(* The Tandem indicator server: serves the protocol of docs/protocol.md on
   stdin/stdout until end of input (exit 0) or a corrupt frame (exit 2). *)

let () =
  set_binary_mode_in stdin true;
  set_binary_mode_out stdout true;
  let reader = Wire.reader stdin and state = Server.create () in
  let rec loop () =
    match Wire.read_frame reader with
    | None -> ()
    | Some frame ->
      let kind, body = Server.handle state frame in
      Wire.write_frame stdout ~kind ~id:frame.id body;
      loop ()
  in
  try loop () with
  | Wire.Corrupt msg ->
    prerr_endline ("tandem_ocaml: corrupt frame, exiting: " ^ msg);
    exit 2
  | Sys_error msg ->
    prerr_endline ("tandem_ocaml: I/O error, exiting: " ^ msg);
    exit 3
