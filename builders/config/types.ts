import type { SourceLocation } from '../../core/errors.js';

/** Typed views of the two user inputs: the vamc-style build YAML and the vdsp preprocessing params JSON. */

export type BuildDtype = 'fp32' | 'fp16' | 'int8';

export interface ProcessOp {
  type: string;
  [key: string]: unknown;
}

export interface BuildConfig {
  /** The YAML file, as the user named it (messages quote it). */
  file: string;
  name: string;
  frontend: {
    type: 'onnx';
    /** Absolute path (relative paths resolve against the YAML file's folder). */
    checkpoint: string;
    shape?: Record<string, number[]>;
    dtype: 'fp32';
  };
  backend: {
    type: 'onnxruntime';
    dtype: BuildDtype;
    quantize?: {
      calibrate_mode?: 'percentile' | 'max' | 'kl_divergence' | 'mse';
      quantize_per_channel?: boolean;
      /** calibrate_mode percentile: the percentile kept (default 99.999). */
      percentile?: number;
      /** Points of top-1 the int8 build may lose against fp32. */
      max_accuracy_drop?: number;
      /** Labelled evaluation set (absolute paths). */
      eval?: { datalist: string; gt: string };
      [k: string]: unknown;
    };
  };
  graph: { extra_ops?: { type: 'softmax' } };
  dataset?: {
    type?: string;
    path?: string;
    sampler?: { suffix?: string; get_data_num?: number };
    process_ops?: ProcessOp[];
  };
  /** Absolute path of the workspace folder; the build goes to `<workspace>/<name>/`. */
  workspace: { path: string };
  /** Absolute path of the vdsp params JSON, when preprocessing is baked in. */
  vdsp_params?: string;
  /** Per-pass switches by pass name; a pass absent here runs when it applies. */
  passes: Record<string, boolean>;
  /** Where a dotted key path (e.g. `backend.dtype`) sits in the YAML, for errors found after loading. */
  locate(path: string, which?: 'key' | 'value'): SourceLocation;
}

export type VdspOpType =
  | 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR'
  | 'FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR'
  | 'FUSION_OP_RGB_LETTERBOX_CVTCOLOR_NORM_TENSOR';
export type NormaType = 'DIV255_MINUSMEAN_DIVSTD' | 'MINUSMEAN_DIVSTD' | 'DIV255' | 'EQUAL' | 'DIV1275_MINUSONE';
export type ColorCvtCode = 'NO_CHANGE' | 'BGR2RGB' | 'RGB2BGR';
export type ResizeType = 'BILINEAR_CV' | 'BILINEAR_PILLOW' | 'BILINEAR';

export interface VdspParams {
  OpType: VdspOpType;
  OpConfig: {
    IimageFormat: 'RGB_PLANAR' | 'BGR888';
    IimageWidth: number;
    IimageHeight: number;
    IimageWidthPitch?: number;
    IimageHeightPitch?: number;
    OimageWidth: number;
    OimageHeight: number;
    /** Absent for the no-crop and letterbox op types. */
    ResizeWidth?: number;
    ResizeHeight?: number;
    CropX?: number;
    CropY?: number;
    Mean: number[];
    Std: number[];
    NormaType: NormaType;
    ColorCvtCode: ColorCvtCode;
    ResizeType: ResizeType;
  };
}
