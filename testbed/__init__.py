"""What tests and benchmarks stand up to run against, and that the farm itself never uses: the
farm's emulators as throwaway child processes on free loopback ports (``emulators``), and small
.blend files built with bpy (``scenes``). Both ``tests/`` and ``bench/`` import it; it imports
neither."""
