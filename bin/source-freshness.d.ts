/** Folders whose files end up in dist/. */
export declare const SOURCE_DIRS: string[];
/** The newest modification time of any file under the source folders; undefined when none exist. */
export declare function newestSourceMtimeMs(root: string): Promise<number | undefined>;
