package dev.strata.daemon.nbd;

import dev.strata.engine.ErrorKind;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Engine error kinds as NBD error numbers. NBD allows only a few values; kinds without an NBD
 * counterpart (ENOENT, EACCES, EBUSY: a host file that vanished or became unreadable under a
 * running export) are reported as EIO, the honest "the data could not be read".
 */
final class NbdErrors {
    private NbdErrors() {
    }

    static int of(ErrorKind kind) {
        switch (kind) {
            case EPERM:
                return EPERM;
            case EINVAL:
                return EINVAL;
            case ENOSPC:
            case EFBIG:
                return ENOSPC;
            case EOVERFLOW:
                return EOVERFLOW;
            case ENOTSUP:
                return ENOTSUP;
            case EIO:
            default:
                return EIO;
        }
    }
}
