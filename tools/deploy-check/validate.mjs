// Validates the documents of deploy/kubernetes that kubernetes-validate has no
// schema for (the Prometheus Operator's PrometheusRule and PodMonitor), and prints each
// container's args as one JSON line, so that the test can check them against
// the CLI. Exit 1 naming the file and the path of the first error.
import * as yaml from 'js-yaml';
import fs from 'fs';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const custom = { PodMonitor, PrometheusRule };
let failed = false;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, 'utf8'))) {
    if (!doc) continue;
    const Model = custom[doc.kind];
    if (Model) {
      try {
        new Model(doc).validate();
      } catch (e) {
        console.error(`${file}: ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
        failed = true;
        continue;
      }
    }
    const pod = doc.spec?.template?.spec ?? doc.spec?.jobTemplate?.spec?.template?.spec;
    for (const c of pod?.containers ?? []) {
      console.log(JSON.stringify({ file, kind: doc.kind, name: doc.metadata?.name, container: c.name, args: c.args ?? [] }));
    }
  }
}
process.exit(failed ? 1 : 0);
