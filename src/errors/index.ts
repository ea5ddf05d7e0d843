export { CairnError, isCairnError } from './cairn-error.ts';
