"""The op scan: what a SavedModel's graphs would do, read before anything runs.

    scan(saved_model_dir, allow_ops=())  -> dict (see `scan`)
    op_libraries(op_types)               -> {pip package: [ops]}
    loaded_op_libraries(op_types)        -> ({pip package: [ops]}, [left])

`saved_model.pb` is parsed as a protocol buffer only (nothing is loaded,
traced or called): every op of the top-level graph and of every function of
the library, nested calls included, is listed, with every file path the
graph names (string constants that look like paths, asset files, lookup
tables initialized from files). Ops that act on the machine outside the
model's own assets (files, network, processes: `DENYLIST`) are reported
with the function holding them, so that a checker refuses the model before
loading it. TensorFlow's SECURITY.md treats models as programs; its
`saved_model_cli scan` denylists only ReadFile, WriteFile and PrintV2.

The save/restore ops of the SavedModel's own saver (the `saver_def`
subgraph and the functions it calls: how variables are checkpointed) are
allowed there, and only there: inside any other function they write or read
checkpoints anywhere.

No import of this repository: the isolated checker process runs it, and it
runs alone as `python -I opscan.py --op_libraries=Op1,Op2` (`op_libraries`
in a fresh process).
"""

import json
import os
import re
import sys

# Ops that touch the file system, the network or other processes, with why.
# Names checked against TensorFlow's op registry (tests/test_opscan.py).
_FILES_READ = 'reads a file named by the graph'
_FILES_WRITE = 'writes a file named by the graph'
_CKPT = 'saves or restores a checkpoint at a path the graph names'
_READER = 'a queue reader: reads the files of a filename queue'
_DATASET_READ = 'a dataset that reads files named by the graph'
_DATASET_WRITE = 'a dataset op that writes files'
_NETWORK = 'talks to other processes or machines over the network'
_SUMMARY = 'writes summary event files or a summary database'
DENYLIST = {
    'ReadFile': _FILES_READ,
    'WriteFile': _FILES_WRITE,
    'ImmutableConst': 'memory-maps a file named by the graph',
    'MatchingFiles': 'lists the file system (glob)',
    'FileSystemSetConfiguration': 'reconfigures file systems of the process',
    'SaveV2': _CKPT, 'Save': _CKPT, 'SaveSlices': _CKPT,
    'RestoreV2': _CKPT, 'Restore': _CKPT, 'RestoreSlice': _CKPT,
    'MergeV2Checkpoints': _CKPT + ' (and deletes the shards)',
    'LoadAndRemapMatrix': 'reads a checkpoint named by the graph',
    'GenerateVocabRemapping': 'reads vocabulary files named by the graph',
    'WholeFileReader': _READER, 'WholeFileReaderV2': _READER,
    'TextLineReader': _READER, 'TextLineReaderV2': _READER,
    'FixedLengthRecordReader': _READER, 'FixedLengthRecordReaderV2': _READER,
    'TFRecordReader': _READER, 'TFRecordReaderV2': _READER,
    'LMDBReader': _READER,
    'InitializeTableFromTextFile': _FILES_READ + ' into a lookup table',
    'InitializeTableFromTextFileV2': _FILES_READ + ' into a lookup table',
    'TFRecordDataset': _DATASET_READ, 'TFRecordDatasetV2': _DATASET_READ,
    'TextLineDataset': _DATASET_READ,
    'FixedLengthRecordDataset': _DATASET_READ,
    'FixedLengthRecordDatasetV2': _DATASET_READ,
    'CSVDataset': _DATASET_READ, 'CSVDatasetV2': _DATASET_READ,
    'ExperimentalCSVDataset': _DATASET_READ,
    'LMDBDataset': _DATASET_READ, 'ExperimentalLMDBDataset': _DATASET_READ,
    'MatchingFilesDataset': 'a dataset that lists the file system',
    'ExperimentalMatchingFilesDataset': 'a dataset that lists the file system',
    'LoadDataset': _DATASET_READ,
    'SnapshotDatasetReader': _DATASET_READ,
    'SnapshotNestedDatasetReader': _DATASET_READ,
    'SnapshotChunkDataset': _DATASET_READ,
    'ListSnapshotChunksDataset': _DATASET_READ,
    'SaveDataset': _DATASET_WRITE, 'SaveDatasetV2': _DATASET_WRITE,
    'SnapshotDataset': _DATASET_WRITE, 'SnapshotDatasetV2': _DATASET_WRITE,
    'CacheDataset': _DATASET_WRITE + ' (a cache file unless in memory)',
    'CacheDatasetV2': _DATASET_WRITE + ' (a cache file unless in memory)',
    'DatasetToTFRecord': _DATASET_WRITE,
    'ExperimentalDatasetToTFRecord': _DATASET_WRITE,
    'DistributedSave': _DATASET_WRITE,
    'SqlDataset': 'a dataset that queries a database',
    'ExperimentalSqlDataset': 'a dataset that queries a database',
    'DatasetFromGraph': 'runs a serialized graph the scan cannot read',
    'DataServiceDataset': _NETWORK, 'DataServiceDatasetV2': _NETWORK,
    'DataServiceDatasetV3': _NETWORK, 'DataServiceDatasetV4': _NETWORK,
    'RegisterDataset': _NETWORK, 'RegisterDatasetV2': _NETWORK,
    'RemoteCall': 'calls a function on another device or task',
    'CreateSummaryFileWriter': _SUMMARY, 'CreateSummaryDbWriter': _SUMMARY,
    'PyFunc': 'runs Python code of the process that traced it',
    'PyFuncStateless': 'runs Python code of the process that traced it',
    'EagerPyFunc': 'runs Python code of the process that traced it',
}
# Ops denied only with some attribute values: name -> (attr, test, reason).
_URL = re.compile(r'^(file|grpc)://', re.I)
CONDITIONAL = {
    'PrintV2': ('output_stream', lambda v: v.startswith('file://'),
                'prints to a file (output_stream file://...)'),
    'DebugIdentity': ('debug_urls', _URL.match, 'dumps tensors to debug URLs'),
    'DebugNanCount': ('debug_urls', _URL.match, 'dumps tensors to debug URLs'),
    'DebugNumericSummary': ('debug_urls', _URL.match,
                            'dumps tensors to debug URLs'),
    'DebugIdentityV2': ('dump_root', bool, 'dumps tensors to a directory'),
    'DebugIdentityV3': ('debug_urls', _URL.match, 'dumps tensors to debug URLs'),
    'DecodeProtoV2': ('descriptor_source',
                      lambda v: v not in ('', 'local://') and
                      not v.startswith('bytes://'),
                      'reads a proto descriptor file'),
    'EncodeProto': ('descriptor_source',
                    lambda v: v not in ('', 'local://') and
                    not v.startswith('bytes://'),
                    'reads a proto descriptor file'),
}
# The SavedModel's own saver may use these (in its own subgraph only).
SAVER_OPS = frozenset({'SaveV2', 'RestoreV2', 'MergeV2Checkpoints', 'Save',
                       'SaveSlices', 'Restore', 'RestoreSlice'})
_TABLE_FROM_FILE = ('InitializeTableFromTextFile',
                    'InitializeTableFromTextFileV2')
# String constants taken for file paths: absolute, home or URL-like.
_PATH = re.compile(r'^(/|~/|[A-Za-z]:[\\/]|[a-z][a-z0-9+.-]*://)\S*$')
# Packages that register ops of their own: (module, pip package).
EXTENSIONS = (('tensorflow_text', 'tensorflow-text'),
              ('tensorflow_decision_forests', 'tensorflow-decision-forests'),
              ('tensorflow_io', 'tensorflow-io'),
              ('tensorflow_addons', 'tensorflow-addons'),
              ('tensorflow_recommenders_addons',
               'tensorflow-recommenders-addons'))
GRAPH = '<top-level graph>'


class ScanError(Exception):
  """saved_model.pb cannot be read as a SavedModel."""


def _read(saved_model_dir):
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  from google.protobuf import message  # pylint: disable=g-import-not-at-top
  path = os.path.join(saved_model_dir, 'saved_model.pb')
  proto = saved_model_pb2.SavedModel()
  try:
    with open(path, 'rb') as f:
      proto.ParseFromString(f.read())
  except message.DecodeError as e:
    raise ScanError(f'saved_model.pb is not a SavedModel protocol buffer '
                    f'({e})') from None
  except OSError as e:
    raise ScanError(f'cannot read saved_model.pb ({e})') from None
  if not proto.meta_graphs:
    raise ScanError('saved_model.pb holds no MetaGraph')
  return proto


def _called(node, library):
  """Names of the library functions a NodeDef calls (attrs, direct calls)."""
  names = [node.op] if node.op in library else []
  for value in node.attr.values():
    if value.HasField('func'):
      names.append(value.func.name)
    names += [f.name for f in value.list.func]
  return [n for n in names if n in library]


def _input_node(name):
  """'node:out:0' / 'node:0' / '^node' / 'arg' -> ('node' or 'arg')."""
  return name.lstrip('^').split(':')[0]


def _strings(node):
  """String constants of a Const NodeDef."""
  if node.op != 'Const' or 'value' not in node.attr:
    return []
  return [s.decode('utf-8', 'replace')
          for s in node.attr['value'].tensor.string_val]


class _Scan:
  """The graphs of one MetaGraph, and where each op can be reached from."""

  def __init__(self, proto):
    self.meta = proto.meta_graphs[0]
    graph = self.meta.graph_def
    self.library = {f.signature.name: f for f in graph.library.function}
    self.graph_nodes = {n.name: n for n in graph.node}
    saver = self.meta.saver_def
    roots = [_input_node(n) for n in (saver.save_tensor_name,
                                      saver.restore_op_name) if n]
    self.saver_nodes = self._closure(self.graph_nodes, roots)
    self.saver_prefix = _input_node(saver.filename_tensor_name)
    # Functions reachable from the saver's subgraph only.
    saver_fns = self._reach([f for n in self.saver_nodes
                             for f in _called(self.graph_nodes[n],
                                              self.library)])
    other_roots = list(self.meta.object_graph_def.concrete_functions)
    other_roots += [f for name, n in self.graph_nodes.items()
                    if name not in self.saver_nodes
                    for f in _called(n, self.library)]
    reached = self._reach(other_roots)
    # Functions nothing refers to cannot run; scanned all the same.
    reached |= set(self.library) - reached - saver_fns
    self.saver_fns = saver_fns - reached
    # Callers of each function: (caller function or None, node), to follow
    # a function argument back to where its value comes from.
    self.callers = {}
    for fname, fdef in self.library.items():
      for node in fdef.node_def:
        for callee in _called(node, self.library):
          self.callers.setdefault(callee, []).append((fname, node))
    for node in graph.node:
      for callee in _called(node, self.library):
        self.callers.setdefault(callee, []).append((None, node))
    self.asset_nodes = self._asset_nodes()

  @staticmethod
  def _closure(nodes, roots):
    seen, todo = set(), [r for r in roots if r in nodes]
    while todo:
      n = todo.pop()
      if n in seen:
        continue
      seen.add(n)
      todo += [_input_node(i) for i in nodes[n].input
               if _input_node(i) in nodes]
    return seen

  def _reach(self, roots):
    seen, todo = set(), [r for r in roots if r in self.library]
    while todo:
      name = todo.pop()
      if name in seen:
        continue
      seen.add(name)
      for node in self.library[name].node_def:
        todo += _called(node, self.library)
    return seen

  def _asset_nodes(self):
    """Object-graph node ids of assets -> their file names; graph tensors
    (TF1) of assets -> their file names."""
    objects = self.meta.object_graph_def.nodes
    assets = {}
    for i, node in enumerate(objects):
      if node.WhichOneof('kind') == 'asset':
        index = node.asset.asset_file_def_index
        if index < len(self.meta.asset_file_def):
          assets[i] = self.meta.asset_file_def[index].filename
    for a in self.meta.asset_file_def:
      assets[_input_node(a.tensor_info.name)] = a.filename
    return assets

  def source(self, function, input_name, depth=0):
    """Where a node input's value comes from, through Identity ops and
    function calls: ('const', [strings]), ('asset', filename), ('saver',
    None) for the saver's filename, or ('other', op type)."""
    if depth > 40:
      return 'other', 'too deep'
    node_name = _input_node(input_name)
    if function is None:
      nodes = self.graph_nodes
    else:
      fdef = self.library[function]
      nodes = {n.name: n for n in fdef.node_def}
      args = [a.name for a in fdef.signature.input_arg]
      if node_name in args:
        return self._argument_source(function, args.index(node_name), depth)
    if function is None and node_name in self.asset_nodes and isinstance(
        node_name, str):
      return 'asset', self.asset_nodes[node_name]
    if function is None and node_name == self.saver_prefix:
      return 'saver', None
    node = nodes.get(node_name)
    if node is None:
      return 'other', 'unknown'
    if node.op == 'Const':
      return 'const', _strings(node)
    if node.op in ('Identity', 'StringJoin', 'ShardedFilename') and \
        node.input:
      return self.source(function, node.input[0], depth + 1)
    return 'other', node.op

  def _argument_source(self, function, index, depth):
    saved = self.meta.object_graph_def.concrete_functions.get(function)
    if saved is not None and saved.bound_inputs:
      n_args = len(self.library[function].signature.input_arg)
      first_bound = n_args - len(saved.bound_inputs)
      if index >= first_bound:
        node = saved.bound_inputs[index - first_bound]
        if node in self.asset_nodes:
          return 'asset', self.asset_nodes[node]
        kind = self.meta.object_graph_def.nodes[node].WhichOneof('kind')
        return 'other', f'captured {kind}'
    callers = self.callers.get(function, [])
    if not callers:
      return 'other', 'argument'
    found = []
    for caller, node in callers:
      inputs = [i for i in node.input if not i.startswith('^')]
      if node.op in ('StatefulPartitionedCall', 'PartitionedCall'):
        pass  # Arguments are the call's inputs in order.
      elif node.op != function:
        return 'other', f'argument via {node.op}'
      if index >= len(inputs):
        return 'other', 'argument'
      found.append(self.source(caller, inputs[index], depth + 1))
    kinds = {k for k, _ in found}
    if len(kinds) == 1:
      return found[0]
    return next((f for f in found if f[0] == 'other'), found[0])

  def functions(self):
    """(function name or GRAPH, its NodeDefs, whether saver-only)."""
    yield GRAPH, None, list(self.meta.graph_def.node)
    for name, fdef in sorted(self.library.items()):
      yield name, name, list(fdef.node_def)


def _denied(scan, function, node, in_saver):
  """Why a NodeDef acts on the machine, or None."""
  op = node.op
  if op in CONDITIONAL:
    attr, test, reason = CONDITIONAL[op]
    value = node.attr.get(attr)
    values = []
    if value is not None:
      values = ([value.s.decode('utf-8', 'replace')] if value.s else
                [s.decode('utf-8', 'replace') for s in value.list.s])
    return reason if any(test(v) for v in values) else None
  if op not in DENYLIST:
    return None
  if op in _TABLE_FROM_FILE and len(node.input) > 1:
    kind, value = scan.source(function, node.input[1])
    if kind == 'asset':
      return None  # The SavedModel's own asset.
    if kind == 'const':
      return f'{DENYLIST[op]} ({", ".join(value)}, not a SavedModel asset)'
    return f'{DENYLIST[op]} (a file name from {value}, not a SavedModel asset)'
  if op in SAVER_OPS and in_saver and node.input:
    kind, value = scan.source(function, node.input[0])
    if kind != 'const':
      return None  # The saver's own save/restore, at the path it is given.
    return f'{DENYLIST[op]} ({", ".join(value)})'
  return DENYLIST[op]


def scan(saved_model_dir, allow_ops=()):
  """Reads saved_model.pb (never loads it); returns a dict:

    tensorflow_version  the TensorFlow that wrote it (meta_info_def)
    functions           number of functions in its library
    op_types            every op type, sorted (function calls excluded)
    op_count            number of ops in all graphs
    file_paths          file names the graph refers to (constants that look
                        like paths; asset files)
    assets              the SavedModel's asset files
    denied              [{'op', 'function', 'reason'}]: ops that act on the
                        machine, not in `allow_ops`
    allowed             the same for ops let through by `allow_ops`
    object_graph        whether it has TF2 objects (False: a TF1 graph)

  Raises ScanError if saved_model.pb is not a SavedModel.
  """
  proto = _read(saved_model_dir)
  s = _Scan(proto)
  allow = set(allow_ops)
  types, paths, denied, allowed, count = set(), set(), [], [], 0
  for where, function, nodes in s.functions():
    in_saver = (function in s.saver_fns if function is not None else None)
    for node in nodes:
      count += 1
      if node.op not in s.library:
        types.add(node.op)
      paths.update(p for p in _strings(node) if _PATH.match(p))
      if node.op == 'PrintV2' and 'output_stream' in node.attr:
        stream = node.attr['output_stream'].s.decode('utf-8', 'replace')
        if stream.startswith('file://'):
          paths.add(stream)
      saver_node = in_saver if function is not None else (
          node.name in s.saver_nodes)
      reason = _denied(s, function, node, saver_node)
      if reason:
        entry = {'op': node.op, 'function': where, 'reason': reason}
        (allowed if node.op in allow else denied).append(entry)
  assets = sorted({a.filename for a in s.meta.asset_file_def})
  unique = lambda xs: [dict(t) for t in sorted({tuple(sorted(x.items()))
                                                for x in xs})]
  info = s.meta.meta_info_def
  return {
      'tensorflow_version': info.tensorflow_version or None,
      'tensorflow_git_version': info.tensorflow_git_version or None,
      'functions': len(s.library), 'op_count': count,
      'op_types': sorted(types),
      'file_paths': sorted(paths) + [f'assets/{a}' for a in assets],
      'assets': assets,
      'denied': unique(denied), 'allowed': unique(allowed),
      'object_graph': bool(s.meta.object_graph_def.nodes),
  }


def describe(entries, limit=8):
  """'WriteFile in __inference___call___12 (writes a file ...)', ..."""
  text = [f"{e['op']} in {e['function']} ({e['reason']})"
          for e in entries[:limit]]
  if len(entries) > limit:
    text.append(f'and {len(entries) - limit} more')
  return '; '.join(text)


def op_libraries(op_types):
  """{pip package: [ops]} for the ops TensorFlow itself does not define.

  Asks the op registry: an op not registered in this process (a fresh one,
  where no extension was imported) belongs to the extension package whose
  import registers it. Ops no installed package registers are listed under
  'unknown'. Imports the extension packages it tries.
  """
  import importlib  # pylint: disable=g-import-not-at-top
  import importlib.util  # pylint: disable=g-import-not-at-top
  from tensorflow.python.framework import op_def_registry  # pylint: disable=g-import-not-at-top
  left = sorted(o for o in op_types if op_def_registry.get(o) is None)
  found = {}
  for module, package in EXTENSIONS:
    if not left:
      break
    if importlib.util.find_spec(module) is None:
      continue
    try:
      importlib.import_module(module)
    except Exception:  # pylint: disable=broad-except
      continue
    now = [o for o in left if op_def_registry.get(o) is not None]
    if now:
      found[package] = now
      left = [o for o in left if o not in now]
  if left:
    found['unknown'] = left
  return found


def _mapped_libraries():
  """Real paths of the shared objects mapped into this process (Linux);
  empty where /proc/self/maps cannot be read."""
  try:
    with open('/proc/self/maps') as f:
      return {os.path.realpath(line.split(None, 5)[5].strip())
              for line in f if line.rstrip().endswith('.so')
              and len(line.split(None, 5)) == 6}
  except OSError:
    return set()


def loaded_op_libraries(op_types, extensions=EXTENSIONS):
  """({pip package: [ops]}, [ops left]) from the extension libraries this
  process has already loaded: nothing is imported or loaded.

  TensorFlow keeps the op list of every library it loaded, under the path
  it was loaded from, and asking for that path again returns the list (any
  other path returns an empty one). An extension loads `_name.so` from
  the folder of the module that loads it, so each already-mapped `.so`
  beside an imported module of an extension package is asked under that
  path. Ops found nowhere are left for `op_libraries` in a fresh process.
  Milliseconds, against seconds for a process that imports TensorFlow.
  """
  left = set(op_types)
  found = {}
  mapped = _mapped_libraries()
  imported = [(m, p) for m, p in extensions if m in sys.modules]
  if not left or not mapped or not imported:
    return found, sorted(left)
  from tensorflow.core.framework import op_def_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.python.client import pywrap_tf_session  # pylint: disable=g-import-not-at-top
  for module, package in imported:
    folders = sorted({os.path.dirname(m.__file__) for n, m in
                      list(sys.modules.items())
                      if (n == module or n.startswith(module + '.'))
                      and isinstance(getattr(m, '__file__', None), str)})
    for folder in folders:
      try:
        names = sorted(os.listdir(folder))
      except OSError:
        continue
      for name in names:
        path = os.path.join(folder, name)
        if not left or not name.endswith('.so') or \
            os.path.realpath(path) not in mapped:
          continue
        handle = pywrap_tf_session.TF_LoadLibrary(path)
        try:
          ops = op_def_pb2.OpList.FromString(
              pywrap_tf_session.TF_GetOpList(handle))
        finally:
          pywrap_tf_session.TF_DeleteLibraryHandle(handle)
        now = left & {o.name for o in ops.op}
        if now:
          found[package] = sorted(set(found.get(package, [])) | now)
          left -= now
  return found, sorted(left)


def _main(argv):
  """`python -I opscan.py --op_libraries=Op1,Op2`: JSON on stdout."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  ops = [a.split('=', 1)[1] for a in argv if a.startswith('--op_libraries=')]
  if not ops:
    print('usage: opscan.py --op_libraries=Op1,Op2', file=sys.stderr)
    return 2
  print(json.dumps(op_libraries([o for o in ops[0].split(',') if o])))
  return 0


if __name__ == '__main__':
  sys.exit(_main(sys.argv[1:]))
