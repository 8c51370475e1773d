(* A deque of (index, value) pairs in a ring of [cap] slots. Values are kept
   monotonic (decreasing for max, increasing for min), so the front holds the
   extreme. An index leaves when it is [cap] pushes old. *)
type t = {
  cap : int;
  is_max : bool;
  keep_ties : bool;  (* a value equal to the back does not drop it *)
  idx : int array;
  vals : float array;
  mutable head : int;
  mutable len : int;
  mutable next : int;  (* index of the next push *)
}

let create is_max keep_ties cap =
  if cap < 1 then invalid_arg "Extreme.create: window must be >= 1";
  { cap; is_max; keep_ties; idx = Array.make cap 0; vals = Array.make cap 0.0;
    head = 0; len = 0; next = 0 }

let create_max ?(keep_ties = false) cap = create true keep_ties cap
let create_min ?(keep_ties = false) cap = create false keep_ties cap

let push d v =
  let i = d.next in
  d.next <- i + 1;
  (* expire the front first, so the ring never needs cap + 1 slots *)
  if d.len > 0 && d.idx.(d.head) <= i - d.cap then begin
    d.head <- (if d.head + 1 = d.cap then 0 else d.head + 1);
    d.len <- d.len - 1
  end;
  (* drop dominated values from the back *)
  let continue = ref true in
  while !continue && d.len > 0 do
    let back = (d.head + d.len - 1) mod d.cap in
    let b = d.vals.(back) in
    let dominated =
      if d.keep_ties then (if d.is_max then b < v else b > v)
      else if d.is_max then b <= v
      else b >= v
    in
    if dominated then d.len <- d.len - 1
    else continue := false
  done;
  let pos = (d.head + d.len) mod d.cap in
  d.idx.(pos) <- i;
  d.vals.(pos) <- v;
  d.len <- d.len + 1

let current d = d.vals.(d.head)
let current_index d = d.idx.(d.head)
