(* Prints the CPU time of every batch indicator (default parameters) on a
   10^6-bar random walk, and the cost of one streaming update.
   Run: dune exec ocaml/bench/bench_indicators.exe [-- BARS] *)
open Tandem

let best_of k f =
  let best = ref infinity in
  for _ = 1 to k do
    let t0 = Sys.time () in
    ignore (Sys.opaque_identity (f ()));
    best := Float.min !best (Sys.time () -. t0)
  done;
  !best

let () =
  let n = if Array.length Sys.argv > 1 then int_of_string Sys.argv.(1) else 1_000_000 in
  let st = Random.State.make [| 1 |] in
  let p = ref 100. in
  let c = Array.init n (fun _ -> p := !p *. exp (Random.State.float st 0.04 -. 0.02); !p) in
  let h = Array.map (fun x -> x *. 1.01) c and l = Array.map (fun x -> x *. 0.99) c in
  let v = Array.init n (fun _ -> Random.State.float st 1000.) in
  let input = function "high" -> h | "low" -> l | "close" -> c | _ -> v in
  Printf.printf "%d bars, default parameters, best of 5 (CPU time)\n" n;
  let total = ref 0. in
  List.iter
    (fun (s : Registry.spec) ->
      let inputs = Array.of_list (List.map input s.inputs) in
      let params = Registry.defaults s in
      let tb = best_of 5 (fun () -> s.batch inputs params) in
      total := !total +. tb;
      let m = min n 200_000 in
      let ts =
        best_of 3 (fun () ->
            let str = s.stream params in
            for i = 0 to m - 1 do
              ignore (Stream.update str ~high:h.(i) ~low:l.(i) ~close:c.(i) ~volume:v.(i))
            done)
      in
      Printf.printf "%-10s batch %7.2f ms  (%5.1f ns/bar)   stream %6.1f ns/update\n" s.name
        (1e3 *. tb) (1e9 *. tb /. float n) (1e9 *. ts /. float m))
    Registry.all;
  Printf.printf "all %d batch: %.1f ms\n" (List.length Registry.all) (1e3 *. !total)
