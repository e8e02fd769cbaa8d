;; BILINEAR_CV (OpenCV INTER_LINEAR on uint8) for one planar image, in WebAssembly SIMD. The arithmetic is the
;; one host.ts documents and builders/preprocess/tables.ts describes; the caller lays out the
;; tables. Compiled by tools/build_resize_wasm.ts into resize-cv-wasm.ts (the bytes, base64).
;;
;; Memory the caller fills (byte offsets, every table 16-byte aligned, widths padded to np = n rounded up to 16):
;;   xi   i32 per output column: the first source column (the second is xi + 1; where its weight is 0 it may
;;        lie past the row: the caller leaves slack after the image)
;;   xw   i16 pairs (w0, w1) per output column, 11-bit weights
;;   ytab per output row: r0, r1 (source rows, clipped), b0, b1 (weights): four i32
;;   rows two rows of horizontally filtered values S >> 4 as i16 (S <= 255 * 2048, so S >> 4 fits)
;;   dst  c planes of wh rows of n bytes, plus 16 bytes of slack (rows are written 16 bytes at a time, in order)
(module
  (memory (export "memory") 1)

  ;; out[x] = (row[xi[x]] * w0[x] + row[xi[x] + 1] * w1[x]) >> 4 for 8 columns per step, up to `end`.
  (func $hrow (param $row i32) (param $xi i32) (param $xw i32) (param $out i32) (param $end i32)
    (local $v v128)
    (loop $step
      ;; lane k of 16 bits = the two source bytes of column k
      (local.set $v (v128.load16_lane 0 (i32.add (local.get $row) (i32.load offset=0 (local.get $xi))) (v128.const i64x2 0 0)))
      (local.set $v (v128.load16_lane 1 (i32.add (local.get $row) (i32.load offset=4 (local.get $xi))) (local.get $v)))
      (local.set $v (v128.load16_lane 2 (i32.add (local.get $row) (i32.load offset=8 (local.get $xi))) (local.get $v)))
      (local.set $v (v128.load16_lane 3 (i32.add (local.get $row) (i32.load offset=12 (local.get $xi))) (local.get $v)))
      (local.set $v (v128.load16_lane 4 (i32.add (local.get $row) (i32.load offset=16 (local.get $xi))) (local.get $v)))
      (local.set $v (v128.load16_lane 5 (i32.add (local.get $row) (i32.load offset=20 (local.get $xi))) (local.get $v)))
      (local.set $v (v128.load16_lane 6 (i32.add (local.get $row) (i32.load offset=24 (local.get $xi))) (local.get $v)))
      (local.set $v (v128.load16_lane 7 (i32.add (local.get $row) (i32.load offset=28 (local.get $xi))) (local.get $v)))
      ;; bytes -> i16 pairs, times the (w0, w1) pairs, summed per column: S; then S >> 4, 8 columns as i16
      (v128.store (local.get $out)
        (i16x8.narrow_i32x4_s
          (i32x4.shr_s (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $v)) (v128.load offset=0 (local.get $xw))) (i32.const 4))
          (i32x4.shr_s (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $v)) (v128.load offset=16 (local.get $xw))) (i32.const 4))))
      (local.set $xi (i32.add (local.get $xi) (i32.const 32)))
      (local.set $xw (i32.add (local.get $xw) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br_if $step (i32.lt_u (local.get $out) (local.get $end)))))

  ;; 4 columns of ((a * b0) >> 16) + ((b * b1) >> 16) + 2) >> 2, from the i16 lanes `half` picks
  (func $vmix_low (param $a v128) (param $b v128) (param $b0 v128) (param $b1 v128) (result v128)
    (i32x4.shr_s
      (i32x4.add
        (i32x4.add
          (i32x4.shr_s (i32x4.extmul_low_i16x8_s (local.get $a) (local.get $b0)) (i32.const 16))
          (i32x4.shr_s (i32x4.extmul_low_i16x8_s (local.get $b) (local.get $b1)) (i32.const 16)))
        (i32x4.splat (i32.const 2)))
      (i32.const 2)))
  (func $vmix_high (param $a v128) (param $b v128) (param $b0 v128) (param $b1 v128) (result v128)
    (i32x4.shr_s
      (i32x4.add
        (i32x4.add
          (i32x4.shr_s (i32x4.extmul_high_i16x8_s (local.get $a) (local.get $b0)) (i32.const 16))
          (i32x4.shr_s (i32x4.extmul_high_i16x8_s (local.get $b) (local.get $b1)) (i32.const 16)))
        (i32x4.splat (i32.const 2)))
      (i32.const 2)))

  ;; One output row from filtered rows a and b: 16 bytes per step, up to `end` (the values are <= 255).
  (func $vrow (param $a i32) (param $b i32) (param $w0 i32) (param $w1 i32) (param $out i32) (param $end i32)
    (local $b0 v128) (local $b1 v128) (local $a8 v128) (local $b8 v128) (local $lo v128)
    (local.set $b0 (i16x8.splat (local.get $w0)))
    (local.set $b1 (i16x8.splat (local.get $w1)))
    (loop $step
      (local.set $a8 (v128.load offset=0 (local.get $a)))
      (local.set $b8 (v128.load offset=0 (local.get $b)))
      (local.set $lo (i16x8.narrow_i32x4_s
        (call $vmix_low (local.get $a8) (local.get $b8) (local.get $b0) (local.get $b1))
        (call $vmix_high (local.get $a8) (local.get $b8) (local.get $b0) (local.get $b1))))
      (local.set $a8 (v128.load offset=16 (local.get $a)))
      (local.set $b8 (v128.load offset=16 (local.get $b)))
      (v128.store (local.get $out)
        (i8x16.narrow_i16x8_u
          (local.get $lo)
          (i16x8.narrow_i32x4_s
            (call $vmix_low (local.get $a8) (local.get $b8) (local.get $b0) (local.get $b1))
            (call $vmix_high (local.get $a8) (local.get $b8) (local.get $b0) (local.get $b1)))))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br_if $step (i32.lt_u (local.get $out) (local.get $end)))))

  ;; Every plane: each output row mixes two filtered source rows; a filtered row is kept while the next
  ;; output rows still read it (two slots), so each needed source row is filtered once.
  (func (export "resize") (param $src i32) (param $c i32) (param $h i32) (param $w i32) (param $n i32) (param $np i32) (param $wh i32)
    (param $xi i32) (param $xw i32) (param $ytab i32) (param $rows i32) (param $dst i32)
    (local $ch i32) (local $y i32) (local $plane i32) (local $yt i32) (local $r0 i32) (local $r1 i32)
    (local $idA i32) (local $idB i32) (local $offA i32) (local $offB i32) (local $t i32) (local $off1 i32)
    (local $out i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $np) (i32.const 1)))
    (local.set $out (local.get $dst))
    (local.set $ch (i32.const 0))
    (block $planesDone
      (loop $plane
        (br_if $planesDone (i32.ge_u (local.get $ch) (local.get $c)))
        (local.set $plane (i32.add (local.get $src) (i32.mul (local.get $ch) (i32.mul (local.get $h) (local.get $w)))))
        (local.set $idA (i32.const -1))
        (local.set $idB (i32.const -1))
        (local.set $offA (local.get $rows))
        (local.set $offB (i32.add (local.get $rows) (local.get $rowBytes)))
        (local.set $yt (local.get $ytab))
        (local.set $y (i32.const 0))
        (block $rowsDone
          (loop $row
            (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $wh)))
            (local.set $r0 (i32.load offset=0 (local.get $yt)))
            (local.set $r1 (i32.load offset=4 (local.get $yt)))
            (if (i32.ne (local.get $idA) (local.get $r0))
              (then
                (if (i32.eq (local.get $idB) (local.get $r0))
                  (then
                    (local.set $t (local.get $offA))
                    (local.set $offA (local.get $offB))
                    (local.set $offB (local.get $t))
                    (local.set $idB (local.get $idA))
                    (local.set $idA (local.get $r0)))
                  (else
                    (call $hrow (i32.add (local.get $plane) (i32.mul (local.get $r0) (local.get $w))) (local.get $xi) (local.get $xw)
                      (local.get $offA) (i32.add (local.get $offA) (local.get $rowBytes)))
                    (local.set $idA (local.get $r0))))))
            (local.set $off1 (local.get $offA))
            (if (i32.ne (local.get $r1) (local.get $r0))
              (then
                (if (i32.ne (local.get $idB) (local.get $r1))
                  (then
                    (call $hrow (i32.add (local.get $plane) (i32.mul (local.get $r1) (local.get $w))) (local.get $xi) (local.get $xw)
                      (local.get $offB) (i32.add (local.get $offB) (local.get $rowBytes)))
                    (local.set $idB (local.get $r1))))
                (local.set $off1 (local.get $offB))))
            (call $vrow (local.get $offA) (local.get $off1) (i32.load offset=8 (local.get $yt)) (i32.load offset=12 (local.get $yt))
              (local.get $out) (i32.add (local.get $out) (local.get $n)))
            (local.set $out (i32.add (local.get $out) (local.get $n)))
            (local.set $yt (i32.add (local.get $yt) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 1)))
            (br $row)))
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br $plane)))))
