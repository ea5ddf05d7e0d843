import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeenObjects } from './seen-objects.ts';

const keys = (list: string) => list.split(' ').map((k) => k.split('/') as [string, string]);

/** Feeds `namespace/name` keys and returns the ones taken as new. */
function feed(seen: SeenObjects, list: string): string[] {
  return keys(list)
    .filter(([ns, name]) => seen.add(ns || undefined, name))
    .map(([ns, name]) => `${ns}/${name}`);
}

describe('SeenObjects', () => {
  it('takes every object of one ordered listing, and a repeated one once', () => {
    const seen = new SeenObjects(false);
    assert.deepEqual(feed(seen, 'a/1 a/2 a/2 b/1'), ['a/1', 'a/2', 'b/1']);
  });

  it('after a relist, skips what the first listing stored and takes what is new', () => {
    const seen = new SeenObjects(false);
    assert.deepEqual(feed(seen, 'a/1 a/3 b/1'), ['a/1', 'a/3', 'b/1']);
    assert.equal(seen.relist(), true);
    // a/2 was created at a key the first listing had passed: left out, as objects created during
    // a backup may be; c/1 is new and taken.
    assert.deepEqual(feed(seen, 'a/1 a/2 a/3 b/1 b/2 c/1'), ['b/2', 'c/1']);
    seen.relist();
    assert.deepEqual(feed(seen, 'a/1 b/2 c/1 c/2'), ['c/2']);
  });

  it('remembers keys one by one once a server answers out of key order, and refuses a relist then', () => {
    const seen = new SeenObjects(false);
    assert.deepEqual(feed(seen, 'b/1 b/5 a/9 c/1 a/7 c/1'), ['b/1', 'b/5', 'a/9', 'c/1', 'a/7']);
    // a/8 may still have been to come: whether b/1… were stored cannot be told by a bound.
    assert.equal(seen.relist(), false);
  });

  it('with several selectors, takes what only a later selector returns, below earlier keys too', () => {
    const seen = new SeenObjects(true);
    assert.deepEqual(feed(seen, 'a/1 a/5 b/1'), ['a/1', 'a/5', 'b/1']);
    // The second selector's listing: a/2 and a/9 match only it.
    assert.deepEqual(feed(seen, 'a/2 a/5 a/9 b/1'), ['a/2', 'a/9']);
    assert.equal(seen.relist(), true); // a 410 within the second selector's listing
    assert.deepEqual(feed(seen, 'a/2 a/3 a/5 a/9 b/1'), ['a/3']);
  });

  it('orders keys as the API server does: the whole namespace/name, byte by byte', () => {
    // "a-b/…" sorts before "a/…" ('-' < '/'), as etcd returns them.
    const seen = new SeenObjects(false);
    assert.deepEqual(feed(seen, 'a-b/1 a/1'), ['a-b/1', 'a/1']);
    seen.relist();
    assert.deepEqual(feed(seen, 'a-b/1 a-b/2 a/1 a/2'), ['a/2']);
  });
});
