let fail fmt = Printf.ksprintf invalid_arg fmt

let period fn name ~lo ~hi p =
  if p < lo || p > hi then
    fail "%s: %s must be an integer in [%d, %d], got %d" fn name lo hi p

let int_of_param fn name ~lo ~hi v =
  if not (Float.is_integer v) || v < float_of_int lo || v > float_of_int hi then
    fail "%s: %s must be an integer in [%d, %d], got %s" fn name lo hi
      (Float.to_string v);
  int_of_float v

let real fn name ~lo ~hi v =
  if not (Float.is_finite v) || v < lo || v > hi then
    fail "%s: %s must be a finite number in [%g, %g], got %s" fn name lo hi
      (Float.to_string v)

let finite_array fn name a =
  for i = 0 to Array.length a - 1 do
    let v = Array.unsafe_get a i in
    if not (Float.is_finite v) then
      fail "%s: %s[%d] is not finite (%s)" fn name i (Float.to_string v)
  done

let finite_value fn name v =
  if not (Float.is_finite v) then
    fail "%s: %s is not finite (%s)" fn name (Float.to_string v)

let same_length fn = function
  | [] -> ()
  | (first, a) :: rest ->
    let n = Array.length a in
    List.iter
      (fun (name, b) ->
        if Array.length b <> n then
          fail "%s: %s has length %d but %s has length %d" fn name
            (Array.length b) first n)
      rest
