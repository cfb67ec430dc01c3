/**
 * Data for simclr-ts: CIFAR-10's binary format (`cifar_format.ts`), validation and loading
 * (`cifar_load.ts`) and the checked download (`cifar_download.ts`); a minimal tar reader
 * (`tar.ts`), seeded torchvision-style SimCLR augmentations (`augment.ts`) and a worker pool that
 * runs them off the main thread (`workers.ts`). Tests build their data with
 * `cifar_fixture.ts` and `tar.ts`'s `packTar`, imported by path: they are not part of the API.
 *
 * @module
 */
export {
  type Cifar10,
  CIFAR10_FOLDER,
  CIFAR10_MD5,
  CIFAR10_URL,
  CIFAR_CLASS_NAMES,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  CIFAR_META_FILE,
  CIFAR_NUM_CLASSES,
  CIFAR_RECORD_BYTES,
  CIFAR_RECORDS_PER_FILE,
  CIFAR_TEST_FILE,
  CIFAR_TRAIN_FILES,
  CifarError,
  type CifarSplit,
} from "./cifar_format.ts";
export * from "./cifar_load.ts";
export * from "./cifar_download.ts";
export { extractTar, TarError, type TarFileEntry } from "./tar.ts";
export * from "./augment.ts";
export { AugmentPool, type AugmentPoolOptions, defaultWorkerCount } from "./workers.ts";
