export { CairnError, isCairnError } from './cairn-error.ts';
export { blobNotFound, isStorageFailure, StorageError, type StorageFailure } from './storage-error.ts';
