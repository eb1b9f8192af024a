package dev.strata.daemon.fuse;

import com.kenai.jffi.MemoryIO;
import dev.strata.daemon.Log;
import dev.strata.daemon.export.Export;
import dev.strata.engine.StrataException;
import jnr.ffi.Pointer;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The file system a {@code --fuse} mount shows: one directory holding one read-only regular file
 * per export, whose bytes are the export's guest view (what {@code qemu-img convert -O raw}
 * would write) and whose size is the virtual size.
 *
 * <p>Design note: the callbacks run on libfuse's threads (the multi-threaded loop), any number at
 * once; they call the engine directly, which is thread-safe, and keep no mutable state of their
 * own. {@link #read} decodes straight into libfuse's buffer through a direct {@link ByteBuffer}
 * view of it, so a read costs one copy (host file to FUSE buffer), not two. Write access is
 * refused at {@code open} with EROFS (the mount is also {@code ro}, so the kernel refuses most of
 * it first). Engine errors become the negative errno of their {@code ErrorKind}.
 */
final class FuseView extends FuseStubFS {
    private static final int O_ACCMODE = 3;
    private static final int O_RDONLY = 0;
    private static final int O_TRUNC = 01000;

    private final Map<String, Entry> files = new LinkedHashMap<>();
    private final int uid;
    private final int gid;
    private final long mountTime = System.currentTimeMillis() / 1000;

    /** One file of the view: its name, its export and the image's modification time. */
    record Entry(String fileName, Export export, long mtimeSeconds) {
    }

    FuseView(List<Entry> entries, int uid, int gid) {
        for (Entry e : entries) {
            files.put("/" + e.fileName(), e);
        }
        this.uid = uid;
        this.gid = gid;
    }

    /** Makes the unmount done by {@link FuseMount} known to jnr-fuse, so its exit hook does nothing. */
    void markUnmounted() {
        mounted.set(false);
    }

    @Override
    protected String getFSName() {
        return "stratad";
    }

    @Override
    public int getattr(String path, FileStat stat) {
        if ("/".equals(path)) {
            stat.st_mode.set(FileStat.S_IFDIR | 0555);
            stat.st_nlink.set(2);
            stat.st_uid.set(uid);
            stat.st_gid.set(gid);
            stat.st_mtim.tv_sec.set(mountTime);
            stat.st_ctim.tv_sec.set(mountTime);
            stat.st_atim.tv_sec.set(mountTime);
            return 0;
        }
        Entry e = files.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        long size = e.export().size();
        stat.st_mode.set(FileStat.S_IFREG | 0444);
        stat.st_nlink.set(1);
        stat.st_size.set(size);
        stat.st_blocks.set((size + 511) / 512);
        stat.st_blksize.set(4096);
        stat.st_uid.set(uid);
        stat.st_gid.set(gid);
        stat.st_mtim.tv_sec.set(e.mtimeSeconds());
        stat.st_ctim.tv_sec.set(e.mtimeSeconds());
        stat.st_atim.tv_sec.set(e.mtimeSeconds());
        return 0;
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, long offset, FuseFileInfo fi) {
        if (!"/".equals(path)) {
            return files.containsKey(path) ? -ErrorCodes.ENOTDIR() : -ErrorCodes.ENOENT();
        }
        filter.apply(buf, ".", null, 0);
        filter.apply(buf, "..", null, 0);
        for (Entry e : files.values()) {
            filter.apply(buf, e.fileName(), null, 0);
        }
        return 0;
    }

    @Override
    public int opendir(String path, FuseFileInfo fi) {
        if ("/".equals(path)) {
            return 0;
        }
        return files.containsKey(path) ? -ErrorCodes.ENOTDIR() : -ErrorCodes.ENOENT();
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        if ("/".equals(path)) {
            return -ErrorCodes.EISDIR();
        }
        if (!files.containsKey(path)) {
            return -ErrorCodes.ENOENT();
        }
        int flags = fi.flags.get();
        if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0) {
            return -ErrorCodes.EROFS();
        }
        return 0;
    }

    @Override
    public int read(String path, Pointer buf, long size, long offset, FuseFileInfo fi) {
        Entry e = files.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        long imageSize = e.export().size();
        if (offset < 0) {
            return -ErrorCodes.EINVAL();
        }
        if (offset >= imageSize || size <= 0) {
            return 0;
        }
        int n = (int) Math.min(Math.min(size, imageSize - offset), Integer.MAX_VALUE);
        try {
            ByteBuffer dst = MemoryIO.getInstance().newDirectByteBuffer(buf.address(), n);
            e.export().image().read(dst, offset);
            return n;
        } catch (StrataException ex) {
            Log.warn("FUSE read of " + e.fileName() + " at " + offset + ": " + ex.getMessage(), ex);
            return -ex.kind().errno();
        } catch (RuntimeException ex) {
            Log.warn("FUSE read of " + e.fileName() + " at " + offset + " failed: " + ex, ex);
            return -ErrorCodes.EIO();
        }
    }

    @Override
    public int access(String path, int mask) {
        if (!"/".equals(path) && !files.containsKey(path)) {
            return -ErrorCodes.ENOENT();
        }
        return (mask & 2) != 0 ? -ErrorCodes.EROFS() : 0;
    }

    @Override
    public int statfs(String path, Statvfs stbuf) {
        long total = 0;
        for (Entry e : files.values()) {
            total += (e.export().size() + 4095) / 4096;
        }
        stbuf.f_bsize.set(4096);
        stbuf.f_frsize.set(4096);
        stbuf.f_blocks.set(total);
        stbuf.f_bfree.set(0);
        stbuf.f_bavail.set(0);
        stbuf.f_files.set(files.size() + 1);
        stbuf.f_ffree.set(0);
        stbuf.f_namemax.set(255);
        return 0;
    }
}
