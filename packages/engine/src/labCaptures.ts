import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PatternLibraryError } from './libraryProblems.js';

/** The capture folder that holds several protocols at once: it has no single ground truth. */
export const MIXED_CAPTURES = 'mixed';

/** A capture recorded by the lab: `<captures>/<protocol>/<implementation>-<scenario>.pcap`. */
export interface LabCapture {
  file: string;
  /** `<folder>/<file name>`, how reports name it. */
  name: string;
  folder: string;
  /** The protocol every flow carrying payload must be classified as; undefined for `mixed`. */
  protocol: string | undefined;
  /** The program recorded (the file name up to its first `-`), e.g. "nginx". */
  implementation: string;
  scenario: string;
}

const CAPTURE_FILE = /\.pcap(ng)?$/;

/**
 * The lab's captures under `dir`, folder by folder, files by name. The folder
 * is the ground truth because the lab records one protocol per capture.
 */
export function listLabCaptures(dir: string): LabCapture[] {
  let folders: string[];
  try {
    folders = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    throw new PatternLibraryError('LIBRARY_BAD_CAPTURES_DIR', `cannot read the captures directory ${dir}: ${(err as Error).message}`);
  }
  return folders.flatMap((folder) =>
    readdirSync(join(dir, folder))
      .filter((f) => CAPTURE_FILE.test(f))
      .sort()
      .map((f) => {
        const stem = f.replace(CAPTURE_FILE, '');
        const dash = stem.indexOf('-');
        return {
          file: join(dir, folder, f),
          name: `${folder}/${f}`,
          folder,
          protocol: folder === MIXED_CAPTURES ? undefined : folder,
          implementation: dash > 0 ? stem.slice(0, dash) : stem,
          scenario: dash > 0 ? stem.slice(dash + 1) : '',
        };
      }),
  );
}
