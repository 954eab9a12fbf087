/** CPU time as the benchmarks read it from /proc: of a process, of this process, of the whole machine. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds of a process, all its threads (utime + stime), and of them in the kernel (stime); 0 once it is gone. */
export function processCpuSplit(pid: number): { total: number; sys: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(fields[11]) / CLK_TCK;
    const sys = Number(fields[12]) / CLK_TCK;
    return { total: user + sys, sys };
  } catch {
    return { total: 0, sys: 0 };
  }
}

/** CPU seconds of a process, all its threads; 0 once it is gone. */
export const processCpu = (pid: number): number => processCpuSplit(pid).total;

/** CPU seconds every process of the machine has been busy (/proc/stat: all but idle and iowait). */
export function machineBusyCpu(): number {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return (v.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / CLK_TCK;
}

/** CPU seconds of this process. */
export function ownCpu(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}
