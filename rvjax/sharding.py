"""The device mesh and shardings: the lowest floor, shared by data/ and train/.

One code path for 1 and N devices, and for one or many hosts: batches are split over the mesh's
"data" axis and parameters are replicated. A vmapped ensemble may add a "member" axis.
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
MEMBER_AXIS = "member"


def make_mesh(num_members: int = 1) -> Mesh:
  """A mesh over all devices with axes ("member", "data").

  Args:
    num_members: devices along the member axis (must divide the device count); 1 for plain
      data parallelism.
  """
  devices = np.asarray(jax.devices())
  if num_members < 1 or devices.size % num_members:
    raise ValueError(
        f"num_members={num_members} must be >= 1 and divide the {devices.size} devices.")
  return Mesh(devices.reshape(num_members, -1), (MEMBER_AXIS, DATA_AXIS))


def data_size(mesh: Mesh) -> int:
  """Number of devices along the data axis."""
  return mesh.shape[DATA_AXIS]


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding that keeps a full copy on every device (parameters, optimizer state)."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, *, member_axis: bool = False) -> NamedSharding:
  """Sharding of a batch: leading axis on "data" (or (member, batch) on ("member", "data"))."""
  spec = P(MEMBER_AXIS, DATA_AXIS) if member_axis else P(DATA_AXIS)
  return NamedSharding(mesh, spec)


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  """Raises ValueError unless the global batch splits evenly over processes and data devices."""
  n = data_size(mesh)
  if batch_size < 1 or batch_size % n or batch_size % jax.process_count():
    raise ValueError(
        f"batch_size={batch_size} must be a positive multiple of the {n} devices on the data "
        f"axis and of the {jax.process_count()} processes.")


def put_batch(batch: dict, sharding: NamedSharding) -> dict:
  """Assembles a global jax.Array per entry from this process's slice of the batch."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)
