package dev.strata.engine.ops.create;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.LockRequest;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * qemu's file-posix create ({@code raw_co_create}): the host file under every image, and the
 * whole of a raw image. The file is opened with O_CREAT (an existing file is kept and then
 * truncated to 0), and grown to the size rounded up to 512 bytes with the preallocation asked
 * for (with off, the first 4 KiB written as qemu's allocate_first_block does). {@code nocow} and {@code extent_size_hint} are accepted and checked as qemu checks them;
 * strata sets neither attribute on the host file (qemu only warns where it cannot).
 */
final class HostFileCreator {
    private static final long UINT32_MAX = 0xffff_ffffL;
    private static final int FIRST_BLOCK = 4096;

    private HostFileCreator() {
    }

    /**
     * Creates (or empties) {@code name} and gives it {@code size} bytes (rounded up to 512).
     *
     * @throws StrataException with qemu's wording: "Extent size hint is too large", "Could not
     *         create 'NAME': reason", "Unsupported preallocation mode: metadata", or EFBIG when
     *         the host refuses the size
     */
    static void create(String name, CreateOptions protocolOpts, long size, Preallocation prealloc) {
        if (Long.compareUnsigned(protocolOpts.getNumber("extent_size_hint", 1 << 20), UINT32_MAX) > 0) {
            throw StrataException.invalid("Extent size hint is too large");
        }
        try (FileStorage claim = createEmpty(name)) {
            grow(name, size, prealloc);
        }
    }

    /** Gives the empty file {@code name} its size and preallocation (the rest of raw_co_create). */
    private static void grow(String name, long size, Preallocation prealloc) {
        if (prealloc == Preallocation.METADATA) {
            throw StrataException.unsupported("Unsupported preallocation mode: metadata");
        }
        long total = size < 0 ? size : (size + 511) & ~511L;
        if (total < 0) {
            throw StrataException.invalid("Could not resize file: Invalid argument");
        }
        if (total == 0) {
            return;
        }
        if (prealloc == Preallocation.FALLOC || prealloc == Preallocation.FULL) {
            try (FileStorage file = FileStorage.open(name, false)) {
                if (prealloc == Preallocation.FALLOC) {
                    file.preallocate(0, total);
                } else {
                    file.growWithZeros(total);
                }
            }
            return;
        }
        try (RandomAccessFile file = new RandomAccessFile(name, "rw")) {
            file.setLength(total);
            // qemu's allocate_first_block: later alignment probes find real data at offset 0.
            file.write(new byte[total < FIRST_BLOCK ? 512 : FIRST_BLOCK]);
        } catch (IOException e) {
            if (String.valueOf(e.getMessage()).contains("File too large")) {
                throw new StrataException(ErrorKind.EFBIG, "Could not resize file: File too large", e);
            }
            throw new StrataException(ErrorKind.EIO, "Could not resize file: " + e.getMessage(), e);
        }
    }

    /**
     * O_RDWR|O_CREAT, mode 0644; the file claimed for creation (image locking, so that an image
     * another program has open is refused before it is touched); then ftruncate to 0.
     *
     * @return the file, holding the claim until the caller closes it
     */
    private static FileStorage createEmpty(String name) {
        Path path = Path.of(name);
        try (var ch = Files.newByteChannel(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.READ)) {
            // created (or kept) here; claimed and emptied below
        } catch (NoSuchFileException e) {
            throw new StrataException(ErrorKind.ENOENT, "Could not create '" + name + "': No such file or directory");
        } catch (AccessDeniedException e) {
            throw new StrataException(ErrorKind.EACCES, "Could not create '" + name + "': Permission denied");
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? "Input/output error" : e.getReason();
            throw new StrataException(ErrorKind.EIO, "Could not create '" + name + "': " + reason);
        } catch (IOException e) {
            throw new StrataException(ErrorKind.EIO, "Could not create '" + name + "': " + e.getMessage());
        }
        FileStorage file = FileStorage.open(name, false);
        try {
            file.lock(LockRequest.creation());
            file.truncate(0);
            return file;
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** qemu's bdrv_co_delete_file_noerr: removes {@code name}, ignoring failures. */
    static void deleteQuietly(String name) {
        try {
            Files.deleteIfExists(Path.of(name));
        } catch (IOException | RuntimeException e) {
            // qemu ignores these too.
        }
    }
}
