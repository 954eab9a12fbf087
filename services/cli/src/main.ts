import { Command, Option } from 'commander';
import { runClassify } from './classifyCommand.js';
import { collect, commaList, integerIn } from './optionParsers.js';

const program = new Command('l7mesh').description('Layer-7 flow classification with l7-filter semantics on Hyperscan').showHelpAfterError();

program
  .command('classify')
  .description('classify the flows of capture files in one process (no servers)')
  .requiredOption('--pcap <file...>', 'pcap or pcapng capture(s)')
  .option('--patterns <dir>', 'pattern directory (repeatable; with its immediate subdirectories); default: the project patterns/', collect)
  .option('--order <names>', 'comma-separated protocols to try first, in that order', commaList)
  .option('--max-packets <n>', 'packets per connection to inspect, both directions', integerIn(1, 1_000_000), 10)
  .option('--max-bytes <m>', "l7-filter's maxdatalen: m-1 bytes of flow head are kept", integerIn(2, 65536), 2048)
  .option('--json', 'one JSON object per flow on stdout')
  .addOption(new Option('--engine <engine>', 'matching engine').choices(['hyperscan', 'reference']).default('hyperscan'))
  .action(async (opts) => {
    process.exitCode = await runClassify(opts);
  });

// The edge, worker and cluster commands bring NATS, prom-client, YAML and
// zod with them: loading those took 0.2 s of every `classify`, which never
// needs them, so they are loaded only for a command line that may. So are
// the pattern commands (and cli-table3, which only they use).
if (process.argv[2] !== 'classify') {
  const [
    { runPatternsReadme, runPatternsTest },
    { runPatternsCheck, runPatternsList },
    { registerPatternsScore },
    { registerEdgeCommand },
    { registerWorkerCommand },
    { registerClusterCommands },
  ] = await Promise.all([
    import('./patternLibraryCommand.js'),
    import('./patternsCommand.js'),
    import('./scoreCommand.js'),
    import('./edgeCommand.js'),
    import('./workerCommand.js'),
    import('./clusterCommand.js'),
  ]);
  const patterns = program.command('patterns').description('pattern files: check, list, test and document');
  patterns
    .command('check')
    .description('load, translate and compile pattern directories; exit non-zero on any error')
    .argument('<dir...>', 'pattern directories')
    .action((dirs: string[]) => {
      process.exitCode = runPatternsCheck(dirs);
    });
  patterns
    .command('list')
    .description('list the loaded patterns and their metadata')
    .argument('[dir...]', 'pattern directories (default: the project patterns/)')
    .action((dirs: string[]) => {
      process.exitCode = runPatternsList(dirs);
    });

  patterns
    .command('test')
    .description('prove a pattern library: captures of real programs, overmatch matrix, false positives on random flows; exit 1 on any error')
    .argument('[dir...]', 'pattern directories (default: the project patterns/)')
    .option('--captures <dir>', 'lab captures, <dir>/<protocol>/<implementation>-<scenario>.pcap (default: the project test/captures/)')
    .option('--flows <n>', 'random flows per kind for false-positive rates (default 2000)', integerIn(1, 1_000_000))
    .option('--json', 'the whole report as JSON on stdout')
    .action(async (dirs: string[], opts) => {
      process.exitCode = await runPatternsTest(dirs, opts);
    });
  patterns
    .command('readme')
    .description("generate the pattern library's README.md (protocols, captures, implementations, false positives)")
    .argument('[dir]', 'pattern directory (default: the project patterns/)')
    .option('--write', 'write DIR/README.md instead of printing it')
    .action((dir: string | undefined, opts) => {
      process.exitCode = runPatternsReadme(dir, opts);
    });
  registerPatternsScore(patterns);
  registerEdgeCommand(program);
  registerWorkerCommand(program);
  registerClusterCommands(program);
  // top, flows, accounting, control run: the central store (pg, fastify), loaded like the cluster commands.
  const { registerStoreCommands } = await import('./storeCommands.js');
  registerStoreCommands(program);
}

program.parseAsync().catch((err: unknown) => {
  const e = err as { code?: string; message?: string; details?: string[] };
  process.stderr.write(`l7mesh: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
  for (const line of e.details ?? []) process.stderr.write(`  ${line}\n`);
  process.exitCode = 2;
});
