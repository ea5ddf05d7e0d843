import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterToPrefetch } from './main.ts';

describe('clusterToPrefetch', () => {
  it('names the kubeconfig and context of backup create and restore create, in either flag form', () => {
    assert.deepEqual(
      clusterToPrefetch(['backup', 'create', 'b1', '--kubeconfig', '/k', '--context=prod', '--qps', '5']),
      { kubeconfig: '/k', context: 'prod' },
    );
    assert.deepEqual(clusterToPrefetch(['--debug', 'restore', 'create', 'r1', '--kubeconfig=/k']), {
      kubeconfig: '/k',
    });
    assert.deepEqual(clusterToPrefetch(['backup', 'create', 'b1']), {}, 'the default kubeconfig');
  });

  it('leaves every other command alone', () => {
    for (const argv of [
      ['backup', 'get', '--location', '/x'],
      ['restore', 'describe', 'r1'],
      ['schedule', 'create', 's'],
      ['repo', 'backup', '/data'],
      ['--version'],
      [],
    ])
      assert.equal(clusterToPrefetch(argv), undefined, argv.join(' '));
  });
});
