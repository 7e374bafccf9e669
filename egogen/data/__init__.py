"""Dataset shards: WebDataset tar files plus a JSON index (writer, reader)."""

from egogen.data.shards import ShardError, ShardWriter, iter_samples, read_index, shard_name

__all__ = ["ShardError", "ShardWriter", "iter_samples", "read_index", "shard_name"]
